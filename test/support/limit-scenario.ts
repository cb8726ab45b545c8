import type { Db } from '../../src/db/client.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { seedEvent, seedGuest, seedMember, seedTeam, syncMessageFor } from './seed.ts';
import { seedNotification } from './seed-push.ts';
import type { useSimulatedLuma } from './sync-harness.ts';

/**
 * An event whose sync passes every stage a database limit can stop (claim, event read,
 * pages, finish, stale removal, push refresh): `listed` members on its Luma list (served
 * now), each with a main team when `withTeam`; one synced row of a member who left the
 * list; and a sent "Who's Going" notification of its gathering.
 */
export async function seedLimitScenario(
  app: Db,
  luma: ReturnType<typeof useSimulatedLuma>,
  options: { listed: number; withTeam?: boolean },
) {
  const team = options.withTeam ? await seedTeam(app) : undefined;
  const members = await Promise.all(
    Array.from({ length: options.listed }, () => seedMember(app, team ? { mainTeamUid: team.uid } : {})),
  );
  const event = await seedEvent(app);
  const gone = await seedMember(app);
  const stale = await seedGuest(app, {
    eventUid: event.uid,
    locationUid: event.locationUid!,
    memberUid: gone.uid,
    externalGuestId: `gst-gone-${event.uid}`,
  });
  const sent = await seedNotification(app, {
    isSent: true,
    sentAt: new Date(),
    metadata: { version: 1, ruleKind: 'UPCOMING', gatheringUid: event.locationUid, attendees: { total: 0 } },
  });
  const message = syncMessageFor(event);
  const list: SimGuest[] = members.map((m, i) => ({
    id: `gst-${event.uid}-${i}`,
    email: m.email!,
    approvalStatus: 'approved',
  }));
  luma.serve({ events: { [message.externalEventId]: list } });
  return { event, members, stale, sent, message, list };
}
