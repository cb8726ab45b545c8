/**
 * `--sabotage a,b,…`: breaks the worker (or does what a worker bug would do to the
 * database) on purpose, so that each invariant is seen to fail once (docs/soak.md lists
 * the results). Worker-side ones change the replicas' configuration; the others act on
 * the database or the processes from outside, mid-run or just before the checks.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from '../../src/db/client.ts';
import type { Replica } from './replicas.ts';

const LEAK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'leak.ts');

export const SABOTAGES = {
  'keep-stale': 'the replicas run with stale removal off (PL_EVENT_GUEST_SYNC_REMOVE_STALE=false)',
  'over-budget': "Luma allows 40 requests a minute, far below the replicas' budget of 180 (LUMA_RATE_LIMIT_PER_MINUTE)",
  'dead-letter':
    'the queue dead-letters a message after 1 receive instead of 5: every retryable failure lands in the DLQ',
  leak: 'the replicas retain 4 MB a second (a preload)',
  'delete-approved': "mid-run, one approved guest's synced row is deleted (as a sync that lost its lock would)",
  'touch-directory-row': 'mid-run, a directory-created row is updated',
  crash: 'mid-run, a replica dies (SIGKILL the soak did not plan)',
  'history-gap': 'mid-run, for 20 s, the history table refuses inserts',
  'misplace-row': 'before the checks, one synced row is moved to another location',
  'drop-team': "before the checks, one synced row loses its member's main team",
  duplicate: 'before the checks, a second row is added for a synced (event, member) pair',
  'stale-push': "before the checks, a push candidate's and a notification's counts are changed",
  'failed-attempt': "before the checks, an event's latest attempt is recorded as failed",
  'unnamed-failure': 'before the checks, an attempt an hour old is recorded as failed with `unexpected`',
} as const;
export type Sabotage = keyof typeof SABOTAGES;

export function parseSabotages(text: string | undefined): Set<Sabotage> {
  const names = (text ?? '').split(',').filter(Boolean);
  for (const name of names) {
    if (!(name in SABOTAGES))
      throw new Error(`--sabotage: unknown "${name}"; known: ${Object.keys(SABOTAGES).join(', ')}`);
  }
  return new Set(names as Sabotage[]);
}

export function sabotagedEnv(on: Set<Sabotage>): Record<string, string> {
  return {
    ...(on.has('keep-stale') ? { PL_EVENT_GUEST_SYNC_REMOVE_STALE: 'false' } : {}),
  };
}

export const sabotagePreload = (on: Set<Sabotage>) => (on.has('leak') ? [LEAK] : []);

/** Mid-run sabotage, at the middle of the active phase. */
export async function sabotageMidRun(on: Set<Sabotage>, sql: Sql, replicas: Replica[], say: (t: string) => void) {
  if (on.has('delete-approved')) {
    const [row] = await sql<{ id: number; memberUid: string }[]>`
      DELETE FROM "PLEventGuest" WHERE id = (
        SELECT id FROM "PLEventGuest" WHERE "eventUid" = 'soak-big' AND "externalGuestId" IS NOT NULL ORDER BY id LIMIT 1)
      RETURNING id, "memberUid"`;
    say(`SABOTAGE delete-approved: deleted soak-big/${row?.memberUid}`);
  }
  if (on.has('touch-directory-row')) {
    await sql`UPDATE "PLEventGuest" SET reason = 'changed by the sabotage' WHERE uid = 'soak-dir-soak-ev-1-0'`;
    say('SABOTAGE touch-directory-row: soak-dir-soak-ev-1-0 updated');
  }
  if (on.has('crash')) {
    const victim = replicas.find((r) => r.alive());
    if (victim) process.kill(victim.current()!.pid, 'SIGKILL');
    say(`SABOTAGE crash: ${victim?.name} killed without the soak's planning it`);
  }
  if (on.has('history-gap')) {
    await sql.unsafe(`
      CREATE FUNCTION soak_audit.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused by the soak''s history-gap sabotage'; END $$;
      CREATE TRIGGER soak_refuse BEFORE INSERT ON luma_guest_sync.sync_history
        FOR EACH ROW EXECUTE FUNCTION soak_audit.refuse();`);
    say('SABOTAGE history-gap: history inserts refused for 20 s');
    // Retried: PostgreSQL may be restarting just then.
    const lift = async () => {
      for (let tries = 0; tries < 60; tries++) {
        const lifted = await sql.unsafe('DROP TRIGGER IF EXISTS soak_refuse ON luma_guest_sync.sync_history').then(
          () => true,
          () => false,
        );
        if (lifted) return;
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    };
    setTimeout(() => void lift(), 20_000);
  }
}

/** Sabotage after the quiet period, just before the checks. */
export async function sabotageBeforeChecks(on: Set<Sabotage>, sql: Sql, say: (t: string) => void) {
  const synced = sql`SELECT id FROM "PLEventGuest" WHERE "externalGuestId" IS NOT NULL AND "eventUid" LIKE 'soak-ev-%'`;
  if (on.has('misplace-row')) {
    await sql`UPDATE "PLEventGuest" SET "locationUid" = 'soak-loc-c' WHERE id = (${synced} AND "locationUid" <> 'soak-loc-c' ORDER BY id LIMIT 1)`;
    say('SABOTAGE misplace-row');
  }
  if (on.has('drop-team')) {
    await sql`UPDATE "PLEventGuest" SET "teamUid" = NULL WHERE id = (${synced} AND "teamUid" IS NOT NULL ORDER BY id LIMIT 1)`;
    say('SABOTAGE drop-team');
  }
  if (on.has('duplicate')) {
    await sql`
      INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "teamUid", "updatedAt")
      SELECT 'soak-sabotage-dup', "eventUid", "locationUid", "memberUid", "teamUid", now() FROM "PLEventGuest"
      WHERE id = (${synced} ORDER BY id LIMIT 1)`;
    say('SABOTAGE duplicate');
  }
  if (on.has('stale-push')) {
    await sql`UPDATE "IrlGatheringPushCandidate" SET "attendeeCount" = "attendeeCount" + 1
              WHERE uid = (SELECT uid FROM "IrlGatheringPushCandidate" ORDER BY uid LIMIT 1)`;
    await sql`UPDATE "PushNotification" SET metadata = jsonb_set(metadata, '{attendees,total}', '999')
              WHERE uid = 'soak-push-soak-loc-a'`;
    say('SABOTAGE stale-push');
  }
  if (on.has('failed-attempt')) {
    await sql`
      INSERT INTO luma_guest_sync.sync_history (event_uid, trigger, started_at, finished_at, outcome, error_kind)
      VALUES ('soak-ev-1', 'manual', now() + interval '1 hour', now() + interval '1 hour', 'failure', 'sabotage')`;
    say('SABOTAGE failed-attempt');
  }
  if (on.has('unnamed-failure')) {
    // An hour old: not any event's latest attempt, so `status` stays as it was.
    await sql`
      INSERT INTO luma_guest_sync.sync_history (event_uid, trigger, started_at, finished_at, outcome, error_kind)
      VALUES ('soak-ev-1', 'manual', now() - interval '1 hour', now() - interval '1 hour', 'failure', 'unexpected')`;
    say('SABOTAGE unnamed-failure');
  }
}
