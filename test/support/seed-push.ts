import { eq } from 'drizzle-orm';
import type { Db } from '../../src/db/client.ts';
import { newUid } from '../../src/db/ids.ts';
import * as s from '../../src/db/schema.ts';

/** Seed helpers for the push tables, in the style of seed.ts: one row, believable defaults. */

/** Replaces every config with the given ones (the first listed is the oldest). */
export async function setPushConfigs(db: Db, ...configs: Array<Partial<typeof s.irlGatheringPushConfig.$inferInsert>>) {
  await db.delete(s.irlGatheringPushConfig);
  const rows = [];
  for (const [i, values] of configs.entries()) {
    const [row] = await db
      .insert(s.irlGatheringPushConfig)
      .values({ uid: newUid(), updatedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000), ...values })
      .returning();
    rows.push(row!);
  }
  return rows;
}

export async function seedCandidate(
  db: Db,
  values: Partial<typeof s.irlGatheringPushCandidate.$inferInsert> &
    Pick<
      typeof s.irlGatheringPushCandidate.$inferInsert,
      'ruleKind' | 'gatheringUid' | 'eventUid' | 'eventStartDate' | 'eventEndDate'
    >,
) {
  const [row] = await db
    .insert(s.irlGatheringPushCandidate)
    .values({ uid: newUid(), attendeeCount: 0, updatedAt: new Date(), ...values })
    .returning();
  return row!;
}

export async function candidatesOf(db: Db, eventUid: string) {
  return db
    .select()
    .from(s.irlGatheringPushCandidate)
    .where(eq(s.irlGatheringPushCandidate.eventUid, eventUid))
    .orderBy(s.irlGatheringPushCandidate.ruleKind);
}

export async function seedNotification(
  db: Db,
  values: Partial<typeof s.pushNotification.$inferInsert> & { metadata: unknown },
) {
  const [row] = await db
    .insert(s.pushNotification)
    .values({ uid: newUid(), category: 'IRL_GATHERING', title: 'old title', updatedAt: new Date(), ...values })
    .returning();
  return row!;
}

export async function notification(db: Db, uid: string) {
  const [row] = await db.select().from(s.pushNotification).where(eq(s.pushNotification.uid, uid));
  return row!;
}

export async function seedImage(db: Db, url: string) {
  const [row] = await db
    .insert(s.image)
    .values({
      uid: newUid(),
      url,
      cid: 'bafy-test',
      width: 64,
      height: 64,
      filename: 'avatar.png',
      size: 1024,
      type: 'image/png',
      version: 'ORIGINAL',
      updatedAt: new Date(),
    })
    .returning();
  return row!;
}

export async function seedApproval(db: Db, memberUid: string, state: 'PENDING' | 'APPROVED' | 'REJECTED' | 'VERIFIED') {
  await db.insert(s.memberApproval).values({ uid: newUid(), memberUid, state, updatedAt: new Date() });
}
