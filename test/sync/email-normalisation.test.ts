/**
 * Issue 10, item 4: Luma's and the directory's emails go through one normalisation —
 * every Unicode whitespace trimmed, NFC, PostgreSQL's lower() — and the page statement
 * still finds members through an index.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PgDialect } from 'drizzle-orm/pg-core';
import { pageStatement } from '../../src/sync/add-page-guests.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedMember, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db, sql } = await createTestDatabase({ label: 'email_normalisation' });
const luma = useSimulatedLuma();

async function linkedEvent() {
  const event = await seedEvent(db);
  const message = syncMessageFor(event);
  return { event, message };
}

describe('email normalisation', () => {
  it('matches directory emails with a trailing tab, no-break space or other Unicode whitespace', async () => {
    const spaced = [
      await seedMember(db, { email: 'tab@norm.org\t' }),
      await seedMember(db, { email: '\u00a0nbsp@norm.org\u00a0' }),
      await seedMember(db, { email: '\u2003em@norm.org\u3000' }),
      await seedMember(db, { email: '\ufeffbom@norm.org\n' }),
    ];
    const { event, message } = await linkedEvent();
    luma.serve({
      events: {
        [message.externalEventId]: ['tab', 'nbsp', 'em', 'bom'].map((name, i) => ({
          id: `gst-ws-${i}`,
          email: `${name}@NORM.org`,
        })),
      },
    });

    const result = await syncEvent(syncDeps(db), message);

    assert.equal(result.created, 4);
    assert.deepEqual((await guestsOf(db, event.uid)).map((r) => r.memberUid).sort(), spaced.map((m) => m.uid).sort());
  });

  it('matches the same address written in NFC on one side and NFD on the other', async () => {
    const nfd = await seedMember(db, { email: 'Jose\u0301@norm.org' }); // e + combining acute
    const nfc = await seedMember(db, { email: 'zo\u00eb@norm.org' }); // precomposed ë
    const { event, message } = await linkedEvent();
    luma.serve({
      events: {
        [message.externalEventId]: [
          { id: 'gst-nfc', email: 'jos\u00e9@norm.org' },
          { id: 'gst-nfd', email: 'ZOE\u0308@norm.org' },
        ],
      },
    });

    const result = await syncEvent(syncDeps(db), message);

    assert.equal(result.created, 2);
    assert.deepEqual((await guestsOf(db, event.uid)).map((r) => r.memberUid).sort(), [nfd.uid, nfc.uid].sort());
  });

  it('finds members through the normalised-email index in the page statement’s plan', async () => {
    await sql.unsafe(`
      INSERT INTO "Member" ("uid", "name", "email", "updatedAt")
      SELECT 'bulk-' || i, 'Bulk ' || i, 'bulk' || i || '@norm.org', now() FROM generate_series(1, 20000) i;
      ANALYZE "Member"; ANALYZE "PLEventGuest";`);
    const { event } = await linkedEvent();
    const guests = Array.from({ length: 100 }, (_, i) => ({
      externalGuestId: `gst-plan-${i}`,
      email: `bulk${i * 7}@norm.org`,
      name: null,
      approvalStatus: 'approved',
      registeredAt: null,
    }));
    const query = new PgDialect().sqlToQuery(
      pageStatement({ eventUid: event.uid, locationUid: event.locationUid! }, guests, new Date(), { dryRun: true }),
    );

    const [row] = await sql.unsafe(`EXPLAIN (FORMAT JSON) ${query.sql}`, query.params as never[]);
    const nodes = planNodes((row!['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan);
    const onMember = nodes.filter((n) => n['Relation Name'] === 'Member');

    assert.ok(
      nodes.some((n) => n['Index Name'] === 'Member_normalized_email_idx'),
      JSON.stringify(nodes),
    );
    assert.deepEqual(
      onMember.filter((n) => n['Node Type'] === 'Seq Scan'),
      [],
      'no scan of the whole member table',
    );
  });
});

/**
 * Migration 0014 gave normalize_email an ASCII fast path (no NFC pass where it changes
 * nothing). It must give the same text as 0007's expression on every input, or the
 * rebuilt "Member" index and the page statement's probes would disagree with what was
 * matched before: every character of the Basic Multilingual Plane and samples beyond it,
 * alone, inside an address and at its ends, plus hand-picked cases of whitespace, case
 * and composition.
 */
describe('normalize_email with its ASCII fast path (migration 0014)', () => {
  const reference = (arg: string) => `pg_catalog.normalize(
    pg_catalog.lower(pg_catalog.btrim(${arg},
      U&'\\0009\\000A\\000B\\000C\\000D\\0020\\0085\\00A0\\1680\\2000\\2001\\2002\\2003\\2004\\2005\\2006\\2007\\2008\\2009\\200A\\2028\\2029\\202F\\205F\\3000\\FEFF')),
    'NFC')`;

  it('runs in a UTF8 database, where the fast path exists', async () => {
    const [row] = await sql`SELECT pg_catalog.getdatabaseencoding() AS encoding`;
    assert.equal(row!.encoding, 'UTF8');
  });

  it('gives what 0007 gave on every code point alone, inside an address and at its ends', async () => {
    const [row] = await sql.unsafe(`
      WITH points AS (
        SELECT chr(n) AS c FROM generate_series(1, 65535) n WHERE n NOT BETWEEN 55296 AND 57343
        UNION ALL SELECT chr(n) FROM generate_series(65536, 1114111, 251) n
      ),
      inputs AS (
        SELECT c AS email FROM points
        UNION ALL SELECT 'Ab' || c || 'Z@Example.ORG' FROM points
        UNION ALL SELECT c || 'Mail@Ex.org' || c FROM points
        UNION ALL SELECT ' ' || c || c || E'\t' FROM points
      )
      SELECT count(*)::int AS inputs,
        count(*) FILTER (WHERE luma_guest_sync.normalize_email(email) IS DISTINCT FROM ${reference('email')})::int AS different,
        count(*) FILTER (WHERE octet_length(email) = length(email))::int AS ascii
      FROM inputs`);
    assert.equal(row!.different, 0);
    assert.ok(row!.ascii > 500 && row!.inputs - row!.ascii > 200_000, JSON.stringify(row));
  });

  it('gives what 0007 gave on whitespace of every kind, case and composition', async () => {
    const tricky = [
      '',
      ' ',
      '\t\n\v\f\r ',
      'Plain@Example.com',
      '  padded@example.com  ',
      '\tTAB@example.com\n',
      '\vvt@example.com\f',
      'in side@example.com',
      '\u0085nel@example.com\u0085',
      '\u00a0nbsp@example.com\u00a0',
      '\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200aspaces@example.com\u2028\u2029\u202f\u205f\u3000\ufeff',
      '\u200bzero-width@example.com\u200b',
      '\u1680ogham@example.com',
      'Jose\u0301@example.com',
      'JOS\u00c9@example.com',
      'ZOE\u0308@example.com',
      '\u212akelvin@example.com',
      '\u0130stanbul@example.com',
      'ISTANBUL@example.com',
      'STRA\u00dfE@example.com',
      '\u03a3\u039f\u03a3@example.com',
      '\uff21\uff22@example.com',
      '\ud83d\ude00@example.com',
      '\u1e9b\u0323@example.com',
      'a\u0328\u0301@example.com',
      '\x01ctl@example.com\x7f',
      'ascii-only-but-long-'.repeat(20),
    ];
    const rows = await sql.unsafe(
      `SELECT e AS email, luma_guest_sync.normalize_email(e) AS fast, ${reference('e')} AS full
       FROM unnest($1::text[]) AS e`,
      [tricky],
    );
    assert.equal(rows.length, tricky.length);
    for (const row of rows) assert.equal(row.fast, row.full, JSON.stringify(row.email));
    const [nul] = await sql`SELECT luma_guest_sync.normalize_email(NULL) IS NULL AS is_null`;
    assert.equal(nul!.is_null, true);
  });

  it('is inlined, IMMUTABLE, and still the expression of the member index', async () => {
    const [fn] = await sql`
      SELECT provolatile, proisstrict FROM pg_proc
      WHERE oid = 'luma_guest_sync.normalize_email(text)'::regprocedure`;
    assert.equal(fn!.provolatile, 'i');
    // Inlined, the body shows in the plan instead of a call (a call per address is many times slower).
    const plan = await sql.unsafe(`EXPLAIN (VERBOSE) SELECT luma_guest_sync.normalize_email(email) FROM "Member"`);
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    assert.match(text, /CASE WHEN \(octet_length/);
    assert.doesNotMatch(text, /normalize_email/);
    const [index] = await sql`SELECT pg_get_indexdef('"Member_normalized_email_idx"'::regclass) AS def`;
    assert.match(index!.def, /luma_guest_sync\.normalize_email\(email\)/);
  });
});

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] };

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}
