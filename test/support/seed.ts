import { eq } from 'drizzle-orm';
import type { Db } from '../../src/db/client.ts';
import { newUid } from '../../src/db/ids.ts';
import * as s from '../../src/db/schema.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import type { SyncMessage } from '../../src/sync/types.ts';

const DAY = 86_400_000;
const now = () => new Date();

/** Seed helpers: each inserts one row with believable defaults and returns it. */
export async function seedTeam(db: Db, values: Partial<typeof s.team.$inferInsert> = {}) {
  const uid = values.uid ?? newUid();
  const [row] = await db
    .insert(s.team)
    .values({ uid, name: `Team ${uid}`, status: 'ACTIVE', updatedAt: now(), ...values })
    .returning();
  return row!;
}

export async function seedMember(
  db: Db,
  values: Partial<typeof s.member.$inferInsert> & { mainTeamUid?: string; otherTeamUids?: string[] } = {},
) {
  const { mainTeamUid, otherTeamUids = [], ...memberValues } = values;
  const uid = memberValues.uid ?? newUid();
  const [row] = await db
    .insert(s.member)
    .values({ uid, name: `Member ${uid}`, email: `${uid}@example.org`, updatedAt: now(), ...memberValues })
    .returning();
  if (mainTeamUid) {
    await db.insert(s.teamMemberRole).values({ memberUid: uid, teamUid: mainTeamUid, mainTeam: true });
  }
  for (const teamUid of otherTeamUids) {
    await db.insert(s.teamMemberRole).values({ memberUid: uid, teamUid, mainTeam: false });
  }
  return row!;
}

export async function seedLocation(db: Db, values: Partial<typeof s.plEventLocation.$inferInsert> = {}) {
  const uid = values.uid ?? newUid();
  const [row] = await db
    .insert(s.plEventLocation)
    .values({ uid, location: `Gathering ${uid}`, updatedAt: now(), ...values })
    .returning();
  return row!;
}

/** An event that is syncable by default: Luma, an external id, a location, ending in the future. */
export async function seedEvent(db: Db, values: Partial<typeof s.plEvent.$inferInsert> = {}) {
  const uid = values.uid ?? newUid();
  const locationUid = values.locationUid === undefined ? (await seedLocation(db)).uid : values.locationUid;
  const [row] = await db
    .insert(s.plEvent)
    .values({
      uid,
      name: `Event ${uid}`,
      slugURL: `event-${uid}`,
      type: 'IN_PERSON',
      startDate: new Date(Date.now() + 2 * DAY),
      endDate: new Date(Date.now() + 3 * DAY),
      externalEventProvider: 'LUMA',
      externalEventId: `evt-${uid}`,
      updatedAt: now(),
      ...values,
      locationUid,
    })
    .returning();
  return row!;
}

export async function seedGuest(
  db: Db,
  values: Partial<typeof s.plEventGuest.$inferInsert> & { memberUid: string; locationUid: string },
) {
  const [row] = await db
    .insert(s.plEventGuest)
    .values({ uid: newUid(), updatedAt: now(), ...values })
    .returning();
  return row!;
}

export async function guestsOf(db: Db, eventUid: string) {
  return db.select().from(s.plEventGuest).where(eq(s.plEventGuest.eventUid, eventUid)).orderBy(s.plEventGuest.id);
}

/** The message that asks for a sync of a seeded, Luma-linked event, as the scheduler sends it. */
export function syncMessageFor(
  event: { uid: string; externalEventId: string | null; locationUid: string | null },
  extra: Partial<SyncMessage> = {},
): SyncMessage {
  return {
    eventUid: event.uid,
    externalEventId: event.externalEventId!,
    locationUid: event.locationUid!,
    providerType: 'LUMA',
    ...extra,
  };
}

/**
 * An event whose Luma list names `count` new members (guest ids `gst-<event>-<i>`), and a
 * synced row of a member on no list (guest id `gst-gone`): the row a complete read removes.
 */
export async function seedEventWithLeaver(db: Db, count: number) {
  const event = await seedEvent(db);
  const members = await Promise.all(Array.from({ length: count }, () => seedMember(db)));
  const message = syncMessageFor(event);
  const list: SimGuest[] = members.map((m, i) => ({ id: `gst-${event.uid}-${i}`, email: m.email! }));
  const gone = await seedMember(db);
  await seedGuest(db, {
    eventUid: event.uid,
    locationUid: event.locationUid!,
    memberUid: gone.uid,
    externalGuestId: 'gst-gone',
  });
  return { event, members, message, list };
}

export { DAY };
