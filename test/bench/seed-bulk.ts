import type { Sql } from '../../src/db/client.ts';

/**
 * Seeds `members` directory members in one statement. Member i has the email of
 * simulated Luma guest i (`guest{i}@example.com`, a third of them upper-cased) except
 * every fifth, so 80% of a simulated guest list matches. Half have a main team.
 */
export async function seedBulkMembers(sql: Sql, members: number): Promise<void> {
  await sql`INSERT INTO "Team" (uid, name, "updatedAt") VALUES ('bench-team', 'Bench Team', now()) ON CONFLICT DO NOTHING`;
  await sql`
    INSERT INTO "Member" (uid, name, email, "updatedAt")
    SELECT 'bench-m-' || i, 'Member ' || i,
           CASE WHEN i % 5 = 4 THEN 'member' || i || '@example.org'
                WHEN i % 3 = 0 THEN 'GUEST' || i || '@Example.com'
                ELSE 'guest' || i || '@example.com' END,
           now()
    FROM generate_series(0, ${members - 1}) AS i
    ON CONFLICT DO NOTHING`;
  await sql`
    INSERT INTO "TeamMemberRole" ("memberUid", "teamUid", "mainTeam")
    SELECT 'bench-m-' || i, 'bench-team', true FROM generate_series(0, ${members - 1}, 2) AS i
    ON CONFLICT DO NOTHING`;
  await sql`ANALYZE "Member"`;
  await sql`ANALYZE "TeamMemberRole"`;
}

/** A syncable event linked to simulated Luma event `externalEventId`. */
export async function seedBenchEvent(sql: Sql, uid: string, externalEventId: string): Promise<void> {
  await sql`INSERT INTO "PLEventLocation" (uid, location, "updatedAt") VALUES ('bench-loc', 'Bench City', now()) ON CONFLICT DO NOTHING`;
  await sql`
    INSERT INTO "PLEvent" (uid, name, "slugURL", "startDate", "endDate", "locationUid", "externalEventProvider", "externalEventId", "updatedAt")
    VALUES (${uid}, ${uid}, ${uid}, now() + interval '2 days', now() + interval '3 days', 'bench-loc', 'LUMA', ${externalEventId}, now())
    ON CONFLICT DO NOTHING`;
}
