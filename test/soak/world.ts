/**
 * The soak's world at the start: the bench's 200,000-member directory, a handful of
 * locations and Luma-linked events (one large enough that its sync takes minutes), the
 * rows the directory created itself, an active IRL push config and notifications already
 * sent; and the matching guest lists on the simulated Luma.
 */

import type { Sql } from '../../src/db/client.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { seedBulkMembers } from '../bench/seed-bulk.ts';
import type { SoakPlan } from './plan.ts';
import type { Prng } from './prng.ts';

export const LOCATIONS = ['soak-loc-a', 'soak-loc-b', 'soak-loc-c'] as const;
export const BIG_EVENT = { uid: 'soak-big', lumaId: 'evt-soak-big' };
export const NEW_EVENT = { uid: 'soak-new', lumaId: 'evt-soak-new' };

export interface SoakEvent {
  uid: string;
  lumaId: string;
  locationUid: string;
  /** Days from now to its start. */
  startsInDays: number;
}

export interface World {
  /** Events linked from the start, the large one first. */
  events: SoakEvent[];
  /** Linked by the driver mid-run. */
  newEvent: SoakEvent;
  /** Luma's editable lists (every event but the large one). */
  lists: Record<string, SimGuest[]>;
  bigGuests: number;
  /** Bench members with a main team: every even index (seed-bulk.ts). */
  members: number;
}

/** Bench member i's email as seed-bulk.ts writes it: it matches Luma guest i's unless i % 5 = 4. */
export const memberEmail = (i: number) =>
  i % 5 === 4 ? `member${i}@example.org` : i % 3 === 0 ? `GUEST${i}@Example.com` : `guest${i}@example.com`;

/** Members the editable lists draw from: above the large event's range, 1,000 per event. */
export const memberBase = (eventIndex: number) => 100_000 + eventIndex * 1_000;

export function planWorld(plan: SoakPlan, random: Prng): World {
  const events: SoakEvent[] = [{ ...BIG_EVENT, locationUid: LOCATIONS[0], startsInDays: 1.5 }];
  const lists: Record<string, SimGuest[]> = {};
  for (let k = 0; k < plan.events; k++) {
    // Some start within 48 h (the first tier), the rest within 14 days (the second), all within the push window.
    events.push({
      uid: `soak-ev-${k}`,
      lumaId: `evt-soak-${k}`,
      locationUid: LOCATIONS[k % 2]!,
      startsInDays: k % 3 === 0 ? 0.5 + k / 10 : 3 + k / 2,
    });
  }
  const newEvent = { ...NEW_EVENT, locationUid: LOCATIONS[1], startsInDays: 2.5 };
  for (const [k, event] of [...events.slice(1), newEvent].entries()) {
    const size = random.int(plan.guestsPerEvent[0], plan.guestsPerEvent[1]);
    lists[event.lumaId] = Array.from({ length: size }, (_, i) => {
      // One in six a stranger (no member has the email), the rest bench members.
      const member = memberBase(k) + i;
      const email = random.chance(1 / 6) ? `stranger-${k}-${i}@nowhere.io` : memberEmail(member);
      return { id: `gst-${event.lumaId}-${i}`, email, name: `Guest ${k}-${i}` };
    });
  }
  return { events, newEvent, lists, bigGuests: plan.bigEventGuests, members: plan.members };
}

/** Seeds the directory side of the world (the schema is migrated already). */
export async function seedWorld(sql: Sql, world: World): Promise<void> {
  await seedBulkMembers(sql, world.members);
  for (const [i, uid] of LOCATIONS.entries()) {
    await sql`INSERT INTO "PLEventLocation" (uid, location, "updatedAt") VALUES (${uid}, ${`Soak City ${i}`}, now())`;
  }
  for (const event of world.events) await insertEvent(sql, event);
  // Rows the directory created (no externalGuestId): five per event on two events, two of
  // them for members who are also approved guests on Luma, which the sync must skip.
  for (const [k, event] of world.events.slice(1, 3).entries()) {
    await sql`
      INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", reason, "isHost", "updatedAt")
      SELECT 'soak-dir-' || ${event.uid} || '-' || i, ${event.uid}, ${event.locationUid}, 'bench-m-' || (${memberBase(k)} + i),
             'added in the directory', true, now()
      FROM generate_series(0, 4) AS i`;
  }
  await sql`
    INSERT INTO "IrlGatheringPushConfig" (uid, "isActive", enabled, "minAttendeesPerEvent", "upcomingWindowDays",
                                          "reminderDaysBefore", "updatedAt")
    VALUES ('soak-push-config', true, true, 5, 7, 1, now())`;
  for (const gathering of LOCATIONS) {
    const metadata = { version: 1, gatheringUid: gathering, ruleKind: 'UPCOMING', attendees: { total: 0 } };
    await sql`
      INSERT INTO "PushNotification" (uid, category, title, metadata, "isSent", "sentAt", "updatedAt")
      VALUES (${`soak-push-${gathering}`}, 'IRL_GATHERING', 'sent before the soak', ${JSON.stringify(metadata)}::jsonb,
              true, now(), now())`;
  }
}

export async function insertEvent(sql: Sql, event: SoakEvent): Promise<void> {
  const start = new Date(Date.now() + event.startsInDays * 86_400_000);
  const end = new Date(start.getTime() + 86_400_000);
  await sql`
    INSERT INTO "PLEvent" (uid, name, "slugURL", "startDate", "endDate", "locationUid",
                           "externalEventProvider", "externalEventId", "updatedAt")
    VALUES (${event.uid}, ${event.uid}, ${event.uid}, ${start.toISOString()}::timestamptz AT TIME ZONE 'UTC',
            ${end.toISOString()}::timestamptz AT TIME ZONE 'UTC', ${event.locationUid}, 'LUMA', ${event.lumaId}, now())`;
}
