import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { sql as drizzleSql } from 'drizzle-orm';
import { loadConfig } from '../../src/config/config.ts';
import { createDatabase, type Database, type Db } from '../../src/db/client.ts';
import { SIM_API_KEY, type SimGuest } from '../../src/local/luma-simulator.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import { createProviderRegistry } from '../../src/providers/registry.ts';
import { createSharedBudget } from '../../src/providers/shared-budget.ts';
import type { ExternalGuest } from '../../src/providers/types.ts';
import { addPageGuests } from '../../src/sync/add-page-guests.ts';
import { executeWithIndexProbes, withIndexProbes } from '../../src/sync/index-probes.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { viaPgBouncer } from '../support/pgbouncer.ts';
import { seedEvent } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

/**
 * The page statement's plan must not depend on what the statistics of "PLEventGuest"
 * say. These tests put the table in the state that made the worker quadratic — the
 * statistics of a nearly empty table, autovacuum off so they stay — and check that the
 * statement still reads every table through an index.
 */
const database = await createTestDatabase({ label: 'index_probes' });
const { db, sql } = database;
const luma = useSimulatedLuma();

const MEMBERS = 3_000;
const emailOf = (i: number) => `guest${i}@example.com`;

before(async () => {
  await sql`INSERT INTO "Team" (uid, name, "updatedAt") VALUES ('probe-team', 'Probe Team', now())`;
  await sql`
    INSERT INTO "Member" (uid, name, email, "updatedAt")
    SELECT 'probe-m-' || i, 'Member ' || i, 'guest' || i || '@example.com', now() FROM generate_series(0, ${MEMBERS - 1}) i`;
  await sql`
    INSERT INTO "TeamMemberRole" ("memberUid", "teamUid", "mainTeam")
    SELECT 'probe-m-' || i, 'probe-team', true FROM generate_series(0, ${MEMBERS - 1}, 2) i`;
  await sql`ANALYZE "Member"`;
  await sql`ANALYZE "TeamMemberRole"`;
  // Statistics of a nearly empty guest table, kept while the tests fill it.
  await sql`ALTER TABLE "PLEventGuest" SET (autovacuum_enabled = false)`;
  const small = await seedEvent(db);
  await sql`
    INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
    SELECT 'probe-g-' || i, ${small.uid}, ${small.locationUid!}, 'probe-m-' || i, 'small-' || i, now()
    FROM generate_series(0, 99) i`;
  await sql`ANALYZE "PLEventGuest"`;
});

/** The page statement as addPageGuests sends it: its text and parameters, not executed. */
async function pageStatement(eventUid: string, locationUid: string, guests: ExternalGuest[]) {
  let sent: { text: string; params: unknown[] } | undefined;
  const recorder = {
    $client: {
      options: { prepare: true },
      unsafe: (text: string, params: unknown[]) => {
        sent = { text, params };
        return { execute: () => Promise.resolve([]) };
      },
    },
  } as unknown as Db;
  await addPageGuests({ db: recorder }, { eventUid, locationUid }, guests);
  assert.ok(sent, 'addPageGuests sent no statement');
  return sent;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** How each table is read in the plan PostgreSQL caches for the statement (its generic plan). */
async function genericPlanAccess(connection: Db, statement: { text: string; params: unknown[] }) {
  const client = connection.$client;
  const types = statement.params.map((p) => (Array.isArray(p) ? 'text[]' : 'text'));
  await client.unsafe('SET plan_cache_mode = force_generic_plan');
  await client.unsafe(`PREPARE lgs_probe_page(${types.join(', ')}) AS ${statement.text}`);
  try {
    // EXPLAIN EXECUTE cannot take parameters of its own: the values go in as literals.
    const literal = (value: unknown): string =>
      Array.isArray(value)
        ? `ARRAY[${value.map(literal).join(', ')}]::text[]`
        : `'${String(value).replaceAll("'", "''")}'`;
    const [row] = await client.unsafe(
      `EXPLAIN (FORMAT JSON) EXECUTE lgs_probe_page(${statement.params.map(literal).join(', ')})`,
    );
    const access: string[] = [];
    const walk = (node: PlanNode) => {
      if (node['Relation Name'] && node['Node Type'] !== 'ModifyTable') {
        access.push(
          `${node['Relation Name']}: ${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''}`,
        );
      }
      for (const child of node.Plans ?? []) walk(child);
    };
    walk((row!['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan);
    return access.sort();
  } finally {
    await client.unsafe('DEALLOCATE lgs_probe_page');
    await client.unsafe('RESET plan_cache_mode');
  }
}

describe('withIndexProbes', () => {
  it('plans the page statement with index probes only, where the statistics make a sequential scan look free', async () => {
    const event = await seedEvent(db);
    const guests = Array.from({ length: 100 }, (_, i) => ({
      externalGuestId: `g-${i}`,
      email: emailOf(i),
      name: null,
      approvalStatus: 'approved',
      registeredAt: null,
    }));
    const statement = await pageStatement(event.uid, event.locationUid!, guests);

    // The premise: planned as usual, the existing-guest probe is a sequential scan.
    const reserved = await sql.reserve();
    const usual = await genericPlanAccess({ $client: reserved } as unknown as Db, statement).finally(() =>
      reserved.release(),
    );
    assert.ok(usual.includes('PLEventGuest: Seq Scan'), `expected the usual plan to scan: ${usual.join('; ')}`);

    const guarded = await withIndexProbes(db, (connection) => genericPlanAccess(connection, statement));
    assert.deepEqual(
      guarded.filter((access) => !/: (Index Scan|Index Only Scan|Bitmap Index Scan|Bitmap Heap Scan)\b/.test(access)),
      [],
      `every table read through an index: ${guarded.join('; ')}`,
    );
    for (const table of ['Member', 'PLEventGuest', 'TeamMemberRole']) {
      assert.ok(
        guarded.some((access) => access.startsWith(`${table}: `)),
        `${table} is read: ${guarded.join('; ')}`,
      );
    }
  });

  it("turns sequential scans off for the page loop's connection only", async () => {
    const setting = async (handle: Db) => {
      const [row] = await handle.$client`SELECT current_setting('enable_seqscan') AS value`;
      return row!.value as string;
    };
    const during = await withIndexProbes(db, async (pages) => ({
      pages: await setting(pages),
      pool: await setting(db),
    }));
    assert.deepEqual(during, { pages: 'off', pool: 'on' });
  });

  it('completes a sync whose pool has one connection, with the rate budget shared through that pool', async () => {
    // The page loop takes a budget grant from the pool before every page: it must not
    // hold the pool's only connection while it does.
    const pool = createDatabase({ url: database.url, poolMax: 1 });
    const event = await seedEvent(db);
    luma.serve({
      events: {
        [event.externalEventId!]: Array.from({ length: 250 }, (_, i) => ({ id: `gst-${i}`, email: emailOf(i) })),
      },
    });
    const limiter = createSharedBudget({ sql: pool.sql, key: 'index-probes-test', perMinute: 1_000 });
    const provider = createLumaProvider({
      config: { ...loadConfig({ LUMA_API_KEY: SIM_API_KEY }).luma, pageSize: 100 },
      limiter,
      log: silentLogger,
    });
    const message = {
      eventUid: event.uid,
      externalEventId: event.externalEventId!,
      locationUid: event.locationUid!,
      providerType: 'LUMA' as const,
    };
    try {
      const result = await syncEvent({ ...syncDeps(pool.db), providers: createProviderRegistry([provider]) }, message);
      assert.deepEqual({ pages: result.pages, created: result.created }, { pages: 3, created: 250 });
    } finally {
      await pool.close();
    }
  });

  it('a first sync into a table whose statistics say it is nearly empty probes it by index on every page', async () => {
    // A pool of one connection, as a long-running worker's: its page statement has been
    // planned before, and its backend reports its table statistics when it exits.
    await firstSyncProbesByIndex(createDatabase({ url: database.url, poolMax: 1 }));
  });
});

describe('index probes behind a transaction-mode pooler (PgBouncer)', () => {
  // PgBouncer refuses enable_seqscan as a startup setting: the page statement's own
  // transaction carries it instead, unprepared.
  const pooled = () => createDatabase({ url: viaPgBouncer(database.name), poolMax: 1, pooler: 'transaction' });
  const settingNow = drizzleSql`SELECT current_setting('enable_seqscan') AS value`;

  it("turns sequential scans off in the page statement's transaction only, on the pool's connection", async () => {
    const pool = pooled();
    try {
      const during = await withIndexProbes(pool.db, async (pages) => {
        assert.equal(pages, pool.db, 'no connection of its own');
        return executeWithIndexProbes<{ value: string }>(pages, settingNow);
      });
      const [after] = await pool.db.execute<{ value: string }>(settingNow);
      assert.deepEqual([during[0]?.value, after?.value], ['off', 'on']);
    } finally {
      await pool.close();
    }
  });

  it('rolls a failing page statement back with its setting', async () => {
    const pool = pooled();
    try {
      await assert.rejects(
        executeWithIndexProbes(
          pool.db,
          drizzleSql`INSERT INTO "Team" (uid, name, "updatedAt") VALUES (NULL, 'x', now())`,
        ),
        /null value in column "uid"/,
      );
      const [state] = await pool.db.execute<{ value: string; open: boolean }>(drizzleSql`
        SELECT current_setting('enable_seqscan') AS value, now() <> statement_timestamp() AS open`);
      assert.deepEqual(state, { value: 'on', open: false });
    } finally {
      await pool.close();
    }
  });

  it('a first sync into a table whose statistics say it is nearly empty probes it by index on every page', async () => {
    await firstSyncProbesByIndex(pooled());
  });
});

async function firstSyncProbesByIndex(pool: Database) {
  const sync = async (guests: number) => {
    const event = await seedEvent(db);
    const list: SimGuest[] = Array.from({ length: guests }, (_, i) => ({ id: `gst-${i}`, email: emailOf(i) }));
    luma.serve({ events: { [event.externalEventId!]: list } });
    const message = {
      eventUid: event.uid,
      externalEventId: event.externalEventId!,
      locationUid: event.locationUid!,
      providerType: 'LUMA' as const,
    };
    return syncEvent(syncDeps(pool.db, { pageSize: 100 }), message);
  };
  await sync(700);
  // The table is cleaned and its statistics refreshed while small (a staging copy, a
  // new environment): PostgreSQL plans the statement again at its next page.
  await sql`TRUNCATE "PLEventGuest"`;
  await sql`
    INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "updatedAt")
    SELECT 'probe-small-' || i, e.uid, e."locationUid", 'probe-m-' || i, now()
    FROM generate_series(0, 99) i, (SELECT uid, "locationUid" FROM "PLEvent" LIMIT 1) e`;
  await sql`ANALYZE "PLEventGuest"`;
  const before = await scanCounts();

  const result = await sync(2_000);
  await pool.close();
  assert.equal(result.created, 2_000);

  // Every matched member is probed once, by a sequential or an index scan.
  const after = await waitForScans(before, result.matched);
  const seqScans = after.seq - before.seq;
  assert.ok(seqScans < result.pages, `${seqScans} sequential scans of "PLEventGuest" in ${result.pages} pages`);
}

async function scanCounts() {
  const [row] = await sql<{ seq: string; idx: string }[]>`
    SELECT seq_scan AS seq, coalesce(idx_scan, 0) AS idx FROM pg_stat_user_tables WHERE relname = 'PLEventGuest'`;
  return { seq: Number(row!.seq), idx: Number(row!.idx) };
}

/**
 * Table statistics arrive when the backends that counted them exit or go idle (behind
 * PgBouncer they stay open): wait for them.
 */
async function waitForScans(before: { seq: number; idx: number }, atLeast: number) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const now = await scanCounts();
    if (now.seq + now.idx - before.seq - before.idx >= atLeast) return now;
    if (Date.now() > deadline)
      throw new Error(`scan counts did not reach ${atLeast}: ${JSON.stringify({ before, now })}`);
    await delay(50);
  }
}
