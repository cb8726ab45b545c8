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

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] };

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}
