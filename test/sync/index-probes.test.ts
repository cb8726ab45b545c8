import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import postgres from 'postgres';
import { loadConfig } from '../../src/config/config.ts';
import { createDatabase, type Database, type Db } from '../../src/db/client.ts';
import { SIM_API_KEY, type SimGuest } from '../../src/local/luma-simulator.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import { createProviderRegistry } from '../../src/providers/registry.ts';
import { createSharedBudget } from '../../src/providers/shared-budget.ts';
import type { ExternalGuest } from '../../src/providers/types.ts';
import { addPageGuests } from '../../src/sync/add-page-guests.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { viaPgBouncer } from '../support/pgbouncer.ts';
import { seedEvent } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

/**
 * The page statement's existing-guest probe must not depend on what the statistics of
 * "PLEventGuest" say, on any connection. These tests put the table in the state that made
 * the worker quadratic — the statistics of a nearly empty table, autovacuum off so they
 * stay — and check that the probe is still an index probe: it is
 * luma_guest_sync.not_yet_guests (migration 0013), whose definition carries
 * `enable_seqscan = off`, so no connection or transaction of the worker needs the setting.
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
        return Promise.resolve([]);
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

/**
 * How each table is read when the page statement runs as the worker runs it — prepared,
 * with its cached (generic) plan, on a session with the default settings — including
 * inside the functions it calls: auto_explain reports the plan of every statement
 * executed, nested ones too, as a notice. In a transaction rolled back after it; with
 * `withoutFunctionSetting`, one where not_yet_guests has lost its `enable_seqscan = off`.
 */
async function executedPlanAccess(statement: { text: string; params: unknown[] }, withoutFunctionSetting = false) {
  const plans: PlanNode[] = [];
  const client = postgres(database.url, {
    max: 1,
    onnotice: (notice) => {
      const text = String(notice.message);
      if (!text.includes('"Plan"')) return;
      const explained = JSON.parse(text.slice(text.indexOf('{'))) as { 'Query Text': string; Plan: PlanNode };
      // Not the foreign-key checks of the inserted rows: PostgreSQL's own lookups by primary key.
      if (!explained['Query Text'].startsWith('SELECT 1 FROM ONLY')) plans.push(explained.Plan);
    },
  });
  try {
    await client.unsafe("LOAD 'auto_explain'");
    await client.unsafe('SET auto_explain.log_min_duration = 0');
    await client.unsafe('SET auto_explain.log_nested_statements = on');
    await client.unsafe('SET auto_explain.log_format = json');
    await client.unsafe('SET auto_explain.log_level = notice');
    await client.unsafe('SET plan_cache_mode = force_generic_plan');
    const [setting] = await client.unsafe("SELECT current_setting('enable_seqscan') AS value");
    assert.equal(setting?.value, 'on', "the session's own setting is the default");
    // Rolled back: the page's guests are not written.
    await client.unsafe('BEGIN');
    if (withoutFunctionSetting) {
      await client.unsafe('ALTER FUNCTION luma_guest_sync.not_yet_guests(text, text[]) RESET enable_seqscan');
    }
    await client.unsafe(statement.text, statement.params as never[], { prepare: true });
    await client.unsafe('ROLLBACK');
  } finally {
    await client.end();
  }
  const access: string[] = [];
  const walk = (node: PlanNode) => {
    if (node['Relation Name'] && node['Node Type'] !== 'ModifyTable') {
      access.push(
        `${node['Relation Name']}: ${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''}`,
      );
    }
    for (const child of node.Plans ?? []) walk(child);
  };
  for (const plan of plans) walk(plan);
  return access.sort();
}

const INDEX_ACCESS = /: (Index Scan|Index Only Scan|Bitmap Index Scan|Bitmap Heap Scan)\b/;

describe('the existing-guest probe (luma_guest_sync.not_yet_guests)', () => {
  it('reads every table through an index in the cached plan, where the statistics make a sequential scan look free', async () => {
    const event = await seedEvent(db);
    const guests = Array.from({ length: 100 }, (_, i) => ({
      externalGuestId: `g-${i}`,
      email: emailOf(i),
      name: null,
      approvalStatus: 'approved',
      registeredAt: null,
    }));
    const statement = await pageStatement(event.uid, event.locationUid!, guests);

    // The premise: without the function's own setting, the probe is a sequential scan.
    const unguarded = await executedPlanAccess(statement, true);
    assert.ok(
      unguarded.includes('PLEventGuest: Seq Scan'),
      `expected the probe to scan without the setting: ${unguarded.join('; ')}`,
    );

    const guarded = await executedPlanAccess(statement);
    assert.deepEqual(
      guarded.filter((access) => !INDEX_ACCESS.test(access)),
      [],
      `every table read through an index: ${guarded.join('; ')}`,
    );
    assert.ok(
      guarded.includes('PLEventGuest: Index Only Scan PLEventGuest_eventUid_memberUid_idx'),
      `the probe: ${guarded.join('; ')}`,
    );
    for (const table of ['Member', 'TeamMemberRole']) {
      assert.ok(
        guarded.some((access) => access.startsWith(`${table}: `)),
        `${table} is read: ${guarded.join('; ')}`,
      );
    }
  });

  it("keeps its setting to itself: the caller's session plans with sequential scans on", async () => {
    const [row] = await sql<{ unlisted: number; after: string }[]>`
      SELECT (SELECT count(*)::int FROM luma_guest_sync.not_yet_guests('no-such-event', ARRAY['a', 'b'])) AS unlisted,
        current_setting('enable_seqscan') AS after`;
    assert.deepEqual(row, { unlisted: 2, after: 'on' });
  });

  it('completes a sync whose pool has one connection, with the rate budget shared through that pool', async () => {
    // The page loop takes a budget grant from the pool before every page, and writes the
    // page through the same pool: it must not hold the pool's only connection meanwhile.
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
    // prepared and planned before, and its backend reports its table statistics when it exits.
    await firstSyncProbesByIndex(createDatabase({ url: database.url, poolMax: 1 }));
  });
});

describe('the page statements behind a transaction-mode pooler (PgBouncer) and directly', () => {
  const routes = {
    direct: (onQuery?: (query: string) => void) => createDatabase({ url: database.url, poolMax: 1, onQuery }),
    'through PgBouncer': (onQuery?: (query: string) => void) =>
      createDatabase({ url: viaPgBouncer(database.name), poolMax: 1, pooler: 'transaction', onQuery }),
  };

  for (const [route, pool] of Object.entries(routes)) {
    it(`${route}: each page is one statement on the pool, in no transaction and with no setting of its own`, async () => {
      const event = await seedEvent(db);
      luma.serve({
        events: {
          [event.externalEventId!]: Array.from({ length: 30 }, (_, i) => ({ id: `gst-one-${i}`, email: emailOf(i) })),
        },
      });
      const sent: string[] = [];
      // The statements up to the last page (the finish has transactions of its own).
      let pageLoop = 0;
      const handle = pool((query) => sent.push(query));
      const message = {
        eventUid: event.uid,
        externalEventId: event.externalEventId!,
        locationUid: event.locationUid!,
        providerType: 'LUMA' as const,
      };
      try {
        const hooks = {
          beforeFinish: async () => {
            pageLoop = sent.length;
          },
        };
        const result = await syncEvent(syncDeps(handle.db, { pageSize: 10, hooks }), message);
        assert.deepEqual({ pages: result.pages, created: result.created }, { pages: 3, created: 30 });
        const [after] = await handle.sql<{ value: string }[]>`SELECT current_setting('enable_seqscan') AS value`;
        assert.equal(after?.value, 'on');
      } finally {
        await handle.close();
      }
      const pages = sent.slice(0, pageLoop);
      assert.equal(pages.filter((query) => query.includes('luma_guest_sync.not_yet_guests')).length, 3);
      assert.deepEqual(
        pages.filter((query) => /^\s*(begin|commit|rollback|set)\b/i.test(query)),
        [],
        'no transaction or setting sent during the page loop',
      );
    });
  }

  it('through PgBouncer: a first sync into a table whose statistics say it is nearly empty probes it by index on every page', async () => {
    await firstSyncProbesByIndex(routes['through PgBouncer']());
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
