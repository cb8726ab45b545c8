import type { Db } from '../db/client.ts';
import * as s from '../db/schema.ts';
import { DEMO_LOCATION, DEMO_MEMBERS, DEMO_TEAMS, demoEvents } from './demo-data.ts';

/**
 * Seeds the demo directory into an empty, migrated database. Idempotent: rows that
 * exist are left alone, so `npm run local` can be run again on the same data.
 */
export async function seedDemoDirectory(db: Db, now = new Date()): Promise<void> {
  const at = { updatedAt: now };
  await db
    .insert(s.team)
    .values(DEMO_TEAMS.map((t) => ({ ...t, status: 'ACTIVE' as const, ...at })))
    .onConflictDoNothing();
  await db
    .insert(s.member)
    .values(DEMO_MEMBERS.map(({ mainTeamUid: _, ...m }) => ({ ...m, ...at })))
    .onConflictDoNothing();
  const roles = DEMO_MEMBERS.flatMap((m) =>
    m.mainTeamUid ? [{ memberUid: m.uid, teamUid: m.mainTeamUid, mainTeam: true }] : [],
  );
  await db.insert(s.teamMemberRole).values(roles).onConflictDoNothing();
  await db
    .insert(s.plEventLocation)
    .values({ ...DEMO_LOCATION, ...at })
    .onConflictDoNothing();
  await db
    .insert(s.plEvent)
    .values(
      demoEvents(now.getTime()).map((e) => ({
        ...e,
        type: 'IN_PERSON' as const,
        locationUid: DEMO_LOCATION.uid,
        externalEventProvider: 'LUMA' as const,
        ...at,
      })),
    )
    .onConflictDoNothing();
  await db
    .insert(s.irlGatheringPushConfig)
    .values({ uid: 'push-config-local', isActive: true, enabled: true, minAttendeesPerEvent: 2, ...at })
    .onConflictDoNothing();
}
