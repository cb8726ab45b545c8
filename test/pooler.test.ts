import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { loadConfig } from '../src/config/config.ts';
import { createDatabase } from '../src/db/client.ts';
import { plEvent } from '../src/db/schema.ts';
import { checkSchema } from '../src/db/schema-check.ts';
import { SIM_API_KEY } from '../src/local/luma-simulator.ts';
import { startLumaSimulator } from '../src/local/luma-simulator-http.ts';
import { silentLogger } from '../src/log.ts';
import { createLumaProvider } from '../src/providers/luma.ts';
import { createProviderRegistry } from '../src/providers/registry.ts';
import { createSharedBudget } from '../src/providers/shared-budget.ts';
import { runEnqueue, slotOf } from '../src/schedule/scheduler.ts';
import { syncEvent } from '../src/sync/sync-event.ts';
import { runCliProcess } from './support/cli-process.ts';
import { createTestDatabase, withDatabase } from './support/db.ts';
import { startTestPgBouncer } from './support/pgbouncer.ts';
import { guestsOf, seedEvent, seedMember } from './support/seed.ts';
import { startStack } from './support/stack.ts';
import { startWorkerProcess } from './support/worker-process.ts';

/**
 * The worker's real paths through Debian's PgBouncer in transaction mode, where a server
 * connection belongs to a client for one transaction only: session state (a SET, a
 * session advisory lock, a named prepared statement, a startup setting) lands on a
 * connection another client gets next. Two server connections for everything, so a
 * leak would show.
 */
const MIGRATION_TAGS = (
  JSON.parse(readFileSync(new URL('../migrations/meta/_journal.json', import.meta.url), 'utf8')) as {
    entries: Array<{ tag: string }>;
  }
).entries.map((entry) => entry.tag);

const bouncer = await startTestPgBouncer({ defaultPoolSize: 2 });
const pooled = (database: string) => withDatabase(bouncer.url, database);

describe('the worker through PgBouncer in transaction mode', () => {
  it('syncs a multi-page event with DATABASE_POOLER=transaction: unnamed statements, any server connection', async () => {
    const database = await createTestDatabase({ label: 'pooler_mode' });
    const members = await Promise.all(Array.from({ length: 12 }, () => seedMember(database.db)));
    const event = await seedEvent(database.db);
    const luma = await startLumaSimulator({
      apiKey: SIM_API_KEY,
      events: { [event.externalEventId!]: members.map((m, i) => ({ id: `gst-mode-${i}`, email: m.email! })) },
    });
    after(() => luma.stop());
    const message = {
      eventUid: event.uid,
      externalEventId: event.externalEventId!,
      locationUid: event.locationUid!,
      providerType: 'LUMA' as const,
    };
    // With DATABASE_POOLER=none the pool would name its prepared statements, which
    // PgBouncer 1.18 does not carry between server connections (docs/poolers.md).
    const pool = createDatabase({ url: pooled(database.name), poolMax: 2, pooler: 'transaction' });
    const provider = createLumaProvider({
      config: { ...loadConfig({ LUMA_API_KEY: SIM_API_KEY, LUMA_API_URL: luma.url }).luma, pageSize: 5 },
      limiter: createSharedBudget({ sql: pool.sql, key: 'pooler-mode-transaction', perMinute: 1_000 }),
      log: silentLogger,
    });
    try {
      const result = await syncEvent(
        { db: pool.db, providers: createProviderRegistry([provider]), log: silentLogger },
        message,
      );
      assert.deepEqual({ created: result.created, pages: result.pages }, { created: 12, pages: 3 });
    } finally {
      await pool.close();
    }
  });

  it('refuses DATABASE_POOLER=none at start: a command fails and the daemon stays unready, both saying to set DATABASE_POOLER=transaction', async () => {
    // Named prepared statements do not survive PgBouncer 1.18's server-connection changes:
    // left at "none", statements would fail or stall later, mid-sync. The direct
    // connection's startup setting (session-settings.ts) is refused at once instead.
    const stack = await startStack({ label: 'pooler_none' });
    const env = { ...stack.env, DATABASE_URL: pooled(stack.database.name), DATABASE_POOLER: 'none' };
    const remedy = /transaction-mode pooler such as PgBouncer.*set DATABASE_POOLER=transaction/;

    const status = await runCliProcess(['status'], env);
    assert.notEqual(status.code, 0);
    assert.match(status.stderr, remedy);

    const worker = await startWorkerProcess(env);
    const waiting = await worker.waitForLog(
      (l) => l.msg === 'waiting for a dependency' && l.what === 'directory schema',
    );
    assert.match(String(waiting.reason), remedy);
    const readyz = await fetch(`${worker.url}/readyz`);
    assert.equal(readyz.status, 503);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);

    const fixed = await runCliProcess(['status'], { ...env, DATABASE_POOLER: 'transaction' });
    assert.equal(fixed.code, 0, fixed.stderr);
  });

  it('db:migrate migrates a fresh database through it, and a second run applies none', async () => {
    const empty = await createTestDatabase({ migrate: false, label: 'pooler_migrate' });
    const env = { DATABASE_URL: pooled(empty.name) };

    const first = await runCliProcess(['db:migrate'], env);
    const second = await runCliProcess(['db:migrate'], env);

    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.logs.find((l) => l.msg === 'migrations applied')?.applied, MIGRATION_TAGS);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(second.logs.find((l) => l.msg === 'database already up to date')?.applied, []);
    assert.equal((await checkSchema(empty.sql)).ok, true);
  });

  it('the daemon syncs a multi-page event with DATABASE_POOLER=transaction and the shared rate budget, is ready, and status reports it', async () => {
    const stack = await startStack({ label: 'pooler_daemon' });
    const { db } = stack.database;
    const members = await Promise.all(Array.from({ length: 35 }, () => seedMember(db)));
    const event = await seedEvent(db);
    stack.lumaEvents[event.externalEventId!] = members.map((m, i) => ({ id: `gst-pool-${i}`, email: m.email! }));
    const env = {
      ...stack.env,
      DATABASE_URL: pooled(stack.database.name),
      DATABASE_POOLER: 'transaction',
      LUMA_PAGE_SIZE: '10',
      LUMA_RATE_LIMIT_SCOPE: 'shared',
    };

    const worker = await startWorkerProcess(env);
    await worker.waitUntilReady();
    const readyz = await fetch(`${worker.url}/readyz`);
    assert.equal(readyz.status, 200, await readyz.clone().text());
    assert.equal(((await readyz.json()) as { ready: boolean }).ready, true);

    await runEnqueue({ db, sqs: stack.sqs, queueUrl: stack.queue.url, log: silentLogger }, slotOf(new Date()));
    const done = await worker.waitForLog((l) => l.msg === 'sync complete' && l.eventUid === event.uid, 60_000);
    assert.deepEqual({ pages: done.pages, created: done.created }, { pages: 4, created: 35 });
    assert.equal((await guestsOf(db, event.uid)).length, 35);
    assert.ok(!worker.lines.some((l) => l.level === 'error' || l.level === 50), 'no error logged');

    // Every page's request took a grant from the budget kept in the database.
    const [budget] = await stack.database.sql<{ starts: number }[]>`
      SELECT coalesce(sum(cardinality(starts)), 0)::int AS starts FROM luma_guest_sync.rate_budget`;
    assert.ok((budget?.starts ?? 0) >= 4, `grants recorded: ${budget?.starts}`);

    // The history row is written just after the log line: wait for status to see it.
    let status: Awaited<ReturnType<typeof runCliProcess>> | undefined;
    for (let tries = 0; tries < 50; tries++) {
      status = await runCliProcess(['status', '--event', event.uid, '--json'], {
        DATABASE_URL: pooled(stack.database.name),
        DATABASE_POOLER: 'transaction',
      });
      if ((status.printed?.history as unknown[] | undefined)?.length) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(status?.code, 0, status?.stderr);
    const history = status?.printed?.history as Array<{ outcome: string }>;
    assert.equal(history[0]?.outcome, 'success', JSON.stringify(status?.printed));
  });

  it('a sync longer than the idle timeouts of PgBouncer and of the pool completes', async () => {
    const database = await createTestDatabase({ label: 'pooler_long' });
    // PgBouncer closes a server connection idle for 1 s; the pool closes its own after 1 s.
    const slow = await startTestPgBouncer({ defaultPoolSize: 2, serverIdleTimeout: 1 });
    const pool = createDatabase({
      url: withDatabase(slow.url, database.name),
      poolMax: 3,
      pooler: 'transaction',
      idleTimeoutSeconds: 1,
    });
    const members = await Promise.all(Array.from({ length: 30 }, () => seedMember(database.db)));
    const event = await seedEvent(database.db);
    // Each page takes 2.5 s to answer: every connection idles past both timeouts between pages.
    const luma = await startLumaSimulator({
      apiKey: SIM_API_KEY,
      events: { [event.externalEventId!]: members.map((m, i) => ({ id: `gst-long-${i}`, email: m.email! })) },
      latencyMs: 2_500,
    });
    after(() => luma.stop());
    const provider = createLumaProvider({
      config: { ...loadConfig({ LUMA_API_KEY: SIM_API_KEY, LUMA_API_URL: luma.url }).luma, pageSize: 10 },
      limiter: createSharedBudget({ sql: pool.sql, key: 'pooler-long', perMinute: 1_000 }),
      log: silentLogger,
    });
    const serverPids = new Set<string>();
    const watch = setInterval(() => {
      slow
        .admin('SHOW SERVERS')
        .then((rows) => {
          for (const row of rows) if (row.database === database.name) serverPids.add(String(row.remote_pid));
        })
        .catch(() => {});
    }, 200);
    try {
      const result = await syncEvent(
        { db: pool.db, providers: createProviderRegistry([provider]), log: silentLogger },
        {
          eventUid: event.uid,
          externalEventId: event.externalEventId!,
          locationUid: event.locationUid!,
          providerType: 'LUMA',
        },
      );
      assert.deepEqual({ pages: result.pages, created: result.created }, { pages: 3, created: 30 });
    } finally {
      clearInterval(watch);
      await pool.close();
    }
    assert.equal((await guestsOf(database.db, event.uid)).length, 30);
    const [synced] = await database.db
      .select({ at: plEvent.guestLastSyncedAt })
      .from(plEvent)
      .where(eq(plEvent.uid, event.uid));
    assert.ok(synced?.at, 'guestLastSyncedAt recorded');
    // PgBouncer did close idle server connections mid-sync: more came and went than it keeps.
    assert.ok(serverPids.size > 2, `server connections seen: ${[...serverPids].join(', ')}`);
  });
});
