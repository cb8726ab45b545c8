/**
 * A small, believable directory and the Luma guest lists that go with it, shared by
 * `npm run local`, the compose stack's simulated Luma and its seed. Emails differ in
 * case and whitespace between the two sides on purpose.
 */
import type { SimGuest } from './luma-simulator.ts';

export const DEMO_TEAMS = [
  { uid: 'team-protocol-labs', name: 'Protocol Labs' },
  { uid: 'team-filecoin-foundation', name: 'Filecoin Foundation' },
  { uid: 'team-lighthouse', name: 'Lighthouse' },
];

export const DEMO_MEMBERS = [
  { uid: 'mem-ada', name: 'Ada Lovelace', email: 'Ada.Lovelace@Example.org', mainTeamUid: 'team-protocol-labs' },
  { uid: 'mem-grace', name: 'Grace Hopper', email: 'grace@example.org', mainTeamUid: 'team-filecoin-foundation' },
  { uid: 'mem-alan', name: 'Alan Turing', email: 'ALAN@EXAMPLE.ORG', mainTeamUid: 'team-lighthouse' },
  { uid: 'mem-katherine', name: 'Katherine Johnson', email: 'katherine@example.org', mainTeamUid: null },
  { uid: 'mem-linus', name: 'Linus Torvalds', email: 'linus@example.org', mainTeamUid: 'team-protocol-labs' },
  { uid: 'mem-barbara', name: 'Barbara Liskov', email: 'barbara@example.org', mainTeamUid: 'team-lighthouse' },
  { uid: 'mem-ken', name: 'Ken Thompson', email: 'ken@example.org', mainTeamUid: 'team-protocol-labs' },
  { uid: 'mem-margaret', name: 'Margaret Hamilton', email: 'margaret@example.org', mainTeamUid: null },
];

export const DEMO_LOCATION = {
  uid: 'loc-lisbon',
  location: 'Lisbon',
  country: 'Portugal',
  timezone: 'Europe/Lisbon',
  description: 'Founders Forge week in Lisbon',
};

const DAY = 86_400_000;
/** Events relative to now, so the demo stays "upcoming" whatever the date. */
export function demoEvents(now = Date.now()) {
  return [
    {
      uid: 'evt-local-summit',
      name: 'Lisbon Summit',
      slugURL: 'lisbon-summit',
      externalEventId: 'evt-LisbonSummit1',
      startDate: new Date(now + 2 * DAY),
      endDate: new Date(now + 3 * DAY),
    },
    {
      uid: 'evt-local-hack',
      name: 'Lisbon Hack Day',
      slugURL: 'lisbon-hack-day',
      externalEventId: 'evt-LisbonHack2',
      startDate: new Date(now + 4 * DAY),
      endDate: new Date(now + 4 * DAY + 8 * 3600_000),
    },
  ];
}

/** The simulated Luma's guest lists, keyed by Luma event id. */
export const DEMO_LUMA_EVENTS: Record<string, SimGuest[]> = {
  'evt-LisbonSummit1': [
    { id: 'gst-sum-ada', email: ' ada.lovelace@example.org', name: 'Ada Lovelace' },
    { id: 'gst-sum-grace', email: 'Grace@Example.org', name: 'Grace Hopper' },
    { id: 'gst-sum-alan', email: 'alan@example.org', name: 'Alan Turing' },
    { id: 'gst-sum-kat', email: 'KATHERINE@example.org', firstName: 'Katherine', lastName: 'Johnson' },
    { id: 'gst-sum-linus', email: 'linus@example.org', name: 'Linus Torvalds' },
    { id: 'gst-sum-stranger', email: 'someone.new@elsewhere.io', name: 'Not A Member' },
    { id: 'gst-sum-wait', email: 'barbara@example.org', name: 'Barbara Liskov', approvalStatus: 'waitlist' },
  ],
  'evt-LisbonHack2': [
    { id: 'gst-hack-ken', email: 'ken@example.org', name: 'Ken Thompson' },
    { id: 'gst-hack-margaret', email: 'Margaret@Example.org', name: 'Margaret Hamilton' },
    { id: 'gst-hack-ada', email: 'ada.lovelace@example.org', name: 'Ada Lovelace' },
    { id: 'gst-hack-declined', email: 'grace@example.org', name: 'Grace Hopper', approvalStatus: 'declined' },
  ],
};
