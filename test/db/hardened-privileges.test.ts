import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { loadConfig } from '../../src/config/config.ts';
import { createDatabase } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import * as s from '../../src/db/schema.ts';
import { checkSchema } from '../../src/db/schema-check.ts';
import { withSyncHistory } from '../../src/history/record-attempt.ts';
import { SIM_API_KEY, type SimGuest } from '../../src/local/luma-simulator.ts';
import { silentLogger } from '../../src/log.ts';
import { findTierCandidates, recordTierEnqueued } from '../../src/schedule/tier-due.ts';
import { readEventStatuses } from '../../src/status/event-status.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { createProviders, createSyncDeps } from '../../src/wiring.ts';
import { createHardenedDirectory } from '../support/hardened-database.ts';
import { guestsOf, seedEvent, seedGuest, seedMember, seedTeam } from '../support/seed.ts';
import { candidatesOf, notification, seedNotification, setPushConfigs } from '../support/seed-push.ts';
import { useSimulatedLuma } from '../support/sync-harness.ts';
import { DIRECTORY_TABLE_PRIVILEGES, OWN_TABLE_PRIVILEGES } from '../support/worker-privileges.ts';

/**
 * Issue 21 §1: on a directory database hardened as a careful DBA would (nothing for
 * PUBLIC, EXECUTE on new functions revoked by default), the directory's own writes keep
 * working after our migrations, and the worker runs with exactly the privileges
 * docs/security.md lists (test/support/worker-privileges.ts) and nothing more.
 */
const directory = await createHardenedDirectory(runMigrations);
const app = directory.app.database.db;
const luma = useSimulatedLuma();
const guest = (id: string, email: string): SimGuest => ({ id, email, approvalStatus: 'approved' });

describe('a hardened directory database', () => {
  it("the directory app inserts and updates members, events and guests through our index's function", async () => {
    const team = await seedTeam(app);
    const member = await seedMember(app, { email: 'Ada@Example.org', mainTeamUid: team.uid });
    await app.update(s.member).set({ email: ' ada.lovelace@example.org ' }).where(eq(s.member.uid, member.uid));
    const event = await seedEvent(app);
    await app.update(s.plEvent).set({ name: 'Renamed' }).where(eq(s.plEvent.uid, event.uid));
    const row = await seedGuest(app, { eventUid: event.uid, locationUid: event.locationUid!, memberUid: member.uid });
    await app.update(s.plEventGuest).set({ reason: 'speaker' }).where(eq(s.plEventGuest.id, row.id));
    await app.delete(s.plEventGuest).where(eq(s.plEventGuest.id, row.id));
  });

  it('the worker syncs, removes, records history, ticks the tiers and reports status with only the listed privileges', async () => {
    const team = await seedTeam(app);
    const ada = await seedMember(app, { email: 'ada@hardened.org', mainTeamUid: team.uid });
    const bob = await seedMember(app, { email: 'bob@hardened.org' });
    await setPushConfigs(app, { isActive: true, enabled: true, minAttendeesPerEvent: 1, upcomingWindowDays: 30 });
    const event = await seedEvent(app);
    const sent = await seedNotification(app, {
      isSent: true,
      sentAt: new Date(),
      metadata: { version: 1, ruleKind: 'UPCOMING', gatheringUid: event.locationUid, attendees: { total: 0 } },
    });
    const message: SyncMessage = {
      eventUid: event.uid,
      externalEventId: event.externalEventId!,
      locationUid: event.locationUid!,
      providerType: 'LUMA',
    };
    const config = loadConfig({
      DATABASE_URL: directory.worker.url,
      LUMA_API_KEY: SIM_API_KEY,
      LUMA_RATE_LIMIT_SCOPE: 'shared',
      PL_EVENT_GUEST_SYNC_REMOVE_STALE: 'true',
      PL_EVENT_GUEST_SYNC_REMOVE_STALE_MAX_SHARE: '1',
    });
    const worker = createDatabase({ url: directory.worker.url, poolMax: 2 });
    try {
      assert.deepEqual((await checkSchema(worker.sql)).missing, []);
      const deps = createSyncDeps(config, worker, createProviders(config, worker, silentLogger), silentLogger);
      const warnings: unknown[] = [];
      const log = { ...silentLogger, warn: (...args: unknown[]) => warnings.push(args) } as typeof silentLogger;
      const sync = () =>
        withSyncHistory({ sql: worker.sql, retentionDays: 30, log }, { eventUid: event.uid, trigger: 'manual' }, () =>
          syncEvent(deps, message),
        );

      luma.serve({ events: { [message.externalEventId]: [guest('g-ada', ada.email!), guest('g-bob', bob.email!)] } });
      assert.equal((await sync()).created, 2);
      luma.serve({ events: { [message.externalEventId]: [guest('g-ada', ada.email!)] } });
      assert.equal((await sync()).removed, 1);
      assert.deepEqual(warnings, [], 'the history was written');
      assert.deepEqual(
        (await guestsOf(app, event.uid)).map((g) => g.memberUid),
        [ada.uid],
      );
      assert.ok((await candidatesOf(app, event.uid)).length > 0, 'push candidates written');
      assert.notDeepEqual((await notification(app, sent.uid)).metadata, sent.metadata, 'sent notification refreshed');
      const history = await directory.admin.sql`SELECT count(*)::int AS n FROM luma_guest_sync.sync_history`;
      assert.equal(history[0]?.n, 2);

      const now = new Date();
      const candidates = await findTierCandidates(worker.sql, now, 30 * 86_400_000);
      assert.ok(candidates.some((c) => c.eventUid === event.uid));
      await recordTierEnqueued(worker.sql, [event.uid], now);
      const statuses = await readEventStatuses(worker.sql, { now, overdueAfterHours: 24 });
      assert.equal(statuses.find((st) => st.eventUid === event.uid)?.lastAttempt?.outcome, 'success');
    } finally {
      await worker.close();
    }
  });

  it('the worker holds no table privilege beyond the list', async () => {
    const rows = await directory.admin.sql<{ schema: string; table: string; privilege: string }[]>`
      SELECT table_schema AS schema, table_name AS table, privilege_type AS privilege
      FROM information_schema.role_table_grants WHERE grantee = ${directory.worker.role}`;
    const held = new Map<string, Set<string>>();
    for (const row of rows) {
      const key = `${row.schema}.${row.table}`;
      held.set(key, (held.get(key) ?? new Set()).add(row.privilege));
    }
    const listed = new Map<string, Set<string>>();
    for (const [schema, tables] of [
      ['public', DIRECTORY_TABLE_PRIVILEGES],
      ['luma_guest_sync', OWN_TABLE_PRIVILEGES],
    ] as const) {
      for (const [table, privileges] of Object.entries(tables)) {
        listed.set(`${schema}.${table}`, new Set(privileges.split(', ')));
      }
    }
    assert.deepEqual(held, listed);
  });
});
