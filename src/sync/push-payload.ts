/**
 * The metadata payload (version 1) of an IRL_GATHERING push notification, and its
 * title and description, as the directory builds them (shared/spec/irl-push.md,
 * "Payload, version 1"). Pure functions: the queries live in push-queries.ts.
 */

export const PAYLOAD_VERSION = 1;
export const RULE_KINDS = ['UPCOMING', 'REMINDER'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

const DAY_MS = 86_400_000;
/** Fixed rather than toLocaleString: ICU builds differ ("Sep" vs "Sept"). */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function isRuleKind(value: unknown): value is RuleKind {
  return typeof value === 'string' && (RULE_KINDS as readonly string[]).includes(value);
}

/** A "PLEventLocation" row as the payload needs it. */
export interface LocationRow {
  uid: string;
  location: string;
  description: string | null;
  country: string | null;
  timezone: string | null;
  latitude: string | null;
  longitude: string | null;
  flag: string | null;
  icon: string | null;
  resources: unknown[] | null;
}

/** A candidate's event, joined with the candidate's attendeeCount. */
export interface EventItemRow {
  uid: string;
  slugURL: string;
  name: string;
  startDate: Date;
  endDate: Date;
  attendeeCount: number;
  logoUrl: string | null;
  websiteURL: string | null;
  telegramId: string | null;
  resources: unknown[] | null;
}

export interface TopAttendee {
  memberUid: string;
  imageUrl: string | null;
  displayName: string;
  eventsCount: number;
}

/** "Who's Going" of one gathering. */
export interface Attendees {
  total: number;
  topAttendees: TopAttendee[];
}

export interface PayloadV1 {
  version: 1;
  gatheringUid: string;
  ruleKind: RuleKind;
  location: {
    id: string;
    name: string;
    description: string | null;
    country: string | null;
    timezone: string | null;
    latitude: string | null;
    longitude: string | null;
    flag: string | null;
    icon: string | null;
    resources: unknown[];
  } | null;
  events: {
    total: number;
    eventUids: string[];
    dates: { start: string | null; end: string | null };
    items: Array<{
      uid: string;
      slug: string;
      name: string;
      startDate: string;
      endDate: string;
      attendeeCount: number;
      logoUrl: string | null;
      websiteURL: string | null;
      telegramId: string | null;
      resources: unknown[];
    }>;
  };
  attendees: Attendees;
  ui: { locationUid: string; eventSlugs: string[]; startsLabel: string | null; daysToStart: number };
}

/** `3rd Mar`, `11th Apr`, `22nd Dec`: ordinal day and short month, in UTC. */
export function startsLabel(date: Date): string {
  const day = date.getUTCDate();
  const teen = day % 100 >= 11 && day % 100 <= 13;
  const suffix = teen ? 'th' : (['th', 'st', 'nd', 'rd'][day % 10] ?? 'th');
  return `${day}${suffix} ${MONTHS[date.getUTCMonth()]}`;
}

/** Whole days from now to start, rounded up, never below 0. */
export function daysToStart(now: Date, start: Date): number {
  return Math.max(0, Math.ceil((start.getTime() - now.getTime()) / DAY_MS));
}

/** Resources are jsonb values; some hold JSON inside a string, which the app expects parsed. */
export function parseResources(values: readonly unknown[] | null | undefined): unknown[] {
  return (values ?? []).map((value) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return { raw: value };
    }
  });
}

export interface TitleInput {
  ruleKind: RuleKind;
  locationName: string | null | undefined;
  locationId: string | null | undefined;
  eventsTotal: number;
  startsLabel: string | null;
  daysToStart: number;
}

export function buildTitle(input: TitleInput): string {
  const where = present(input.locationName) ?? present(input.locationId) ?? 'this location';
  if (input.ruleKind === 'REMINDER') {
    return `Reminder: IRL Gathering in ${where} starts in ${input.daysToStart} days.`;
  }
  const events = `${input.eventsTotal} event${input.eventsTotal === 1 ? '' : 's'}`;
  const starting = input.startsLabel ? ` starting ${input.startsLabel}` : '';
  return `${events} happening in ${where}${starting}`;
}

export function buildDescription(input: {
  locationDescription: string | null | undefined;
  eventsTotal: number;
  attendeesTotal: number;
}): string {
  return (
    present(input.locationDescription) ?? `${input.eventsTotal} upcoming event(s) • ${input.attendeesTotal} attendee(s)`
  );
}

export interface PayloadInput {
  now: Date;
  ruleKind: RuleKind;
  gatheringUid: string;
  location: LocationRow | null;
  /** Non-deleted events at the location with endDate >= now. */
  eventsTotal: number;
  /** The candidates' non-deleted events. */
  items: EventItemRow[];
  attendees: Attendees;
}

/** The full payload, rebuilt from the gathering's candidates in the window. */
export function buildPayloadV1(input: PayloadInput): PayloadV1 {
  const { location, now, gatheringUid } = input;
  const items = [...input.items].sort((a, b) => a.startDate.getTime() - b.startDate.getTime());
  const first = items[0];
  const last = items.at(-1);
  return {
    version: PAYLOAD_VERSION,
    gatheringUid,
    ruleKind: input.ruleKind,
    location: location && {
      id: location.uid,
      name: location.location,
      description: location.description,
      country: location.country,
      timezone: location.timezone,
      latitude: location.latitude,
      longitude: location.longitude,
      flag: location.flag,
      icon: location.icon,
      resources: parseResources(location.resources),
    },
    events: {
      total: input.eventsTotal,
      eventUids: items.map((item) => item.uid),
      dates: { start: first?.startDate.toISOString() ?? null, end: last?.endDate.toISOString() ?? null },
      items: items.map((item) => ({
        uid: item.uid,
        slug: item.slugURL,
        name: item.name,
        startDate: item.startDate.toISOString(),
        endDate: item.endDate.toISOString(),
        attendeeCount: item.attendeeCount,
        logoUrl: item.logoUrl,
        websiteURL: item.websiteURL,
        telegramId: item.telegramId,
        resources: parseResources(item.resources),
      })),
    },
    attendees: input.attendees,
    ui: {
      locationUid: gatheringUid,
      eventSlugs: items.map((item) => item.slugURL),
      startsLabel: first ? startsLabel(first.startDate) : null,
      daysToStart: first ? daysToStart(now, first.startDate) : 0,
    },
  };
}

type Json = Record<string, unknown>;

/**
 * No candidates in the window: the notification keeps what it said about events and
 * only its "Who's Going" part and start countdown are brought up to date.
 */
export function refreshPayloadV1(
  existing: Json,
  input: { now: Date; gatheringUid: string; attendees: Attendees },
): Json {
  const start = parseDate(field(field(existing, 'events'), 'dates').start);
  return {
    ...existing,
    attendees: { ...field(existing, 'attendees'), ...input.attendees },
    ui: {
      ...field(existing, 'ui'),
      locationUid: input.gatheringUid,
      startsLabel: start ? startsLabel(start) : null,
      daysToStart: start ? daysToStart(input.now, start) : 0,
    },
  };
}

/** Title and description read off a payload, whether just built or kept from before. */
export function notificationText(ruleKind: RuleKind, metadata: Json): { title: string; description: string } {
  const location = field(metadata, 'location');
  const ui = field(metadata, 'ui');
  const eventsTotal = numberOr(field(metadata, 'events').total, 0);
  return {
    title: buildTitle({
      ruleKind,
      locationName: stringOrNull(location.name),
      locationId: stringOrNull(location.id),
      eventsTotal,
      startsLabel: stringOrNull(ui.startsLabel),
      daysToStart: numberOr(ui.daysToStart, 0),
    }),
    description: buildDescription({
      locationDescription: stringOrNull(location.description),
      eventsTotal,
      attendeesTotal: numberOr(field(metadata, 'attendees').total, 0),
    }),
  };
}

function present(value: string | null | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

function field(value: unknown, key: string): Json {
  const inner = value && typeof value === 'object' ? (value as Json)[key] : undefined;
  return inner && typeof inner === 'object' && !Array.isArray(inner) ? (inner as Json) : {};
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function parseDate(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
