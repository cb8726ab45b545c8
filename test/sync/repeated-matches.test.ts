/**
 * Issue 21 §5: one Luma guest whose email matches several members after normalisation
 * (case-variant duplicate accounts) adds one member, never all of them: the member whose
 * email is written exactly as the guest's, else the oldest account. The collision is
 * counted in the result and logged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { createTestDatabase } from '../support/db.ts';
import { guestsOf, seedEvent, seedMember, syncMessageFor } from '../support/seed.ts';
import { syncDeps, useSimulatedLuma } from '../support/sync-harness.ts';

const { db } = await createTestDatabase({ label: 'repeated_matches' });
const luma = useSimulatedLuma();

async function linkedEvent() {
  const event = await seedEvent(db);
  const message = syncMessageFor(event);
  return { event, message };
}

function recordingLog() {
  const warnings: Array<{ fields: Record<string, unknown>; msg: string }> = [];
  const log = {
    child: () => log,
    debug: () => {},
    info: () => {},
    error: () => {},
    warn: (fields: Record<string, unknown>, msg: string) => warnings.push({ fields, msg }),
  };
  return { log: log as never, warnings };
}

describe('a guest email that matches several members', () => {
  // Luma's emails arrive trimmed with ASCII letters lower-cased (luma-page.ts): the exact
  // match is the account whose stored email is already in that form.
  it('adds the member whose email is written exactly as the guest’s, and says so', async () => {
    await seedMember(db, { email: 'Ada@Dup.org' });
    const exact = await seedMember(db, { email: 'ada@dup.org' });
    await seedMember(db, { email: ' ADA@dup.org ' });
    const { event, message } = await linkedEvent();
    luma.serve({ events: { [message.externalEventId]: [{ id: 'gst-ada', email: 'Ada@Dup.org' }] } });
    const { log, warnings } = recordingLog();

    const result = await syncEvent({ ...syncDeps(db), log }, message);

    assert.equal(result.created, 1);
    assert.equal(result.matched, 1);
    assert.equal(result.ambiguous, 1);
    assert.deepEqual(
      (await guestsOf(db, event.uid)).map((g) => g.memberUid),
      [exact.uid],
    );
    const warning = warnings.find((w) => w.msg === 'guest email matches several members: one added');
    assert.deepEqual(warning?.fields.externalGuestIds, ['gst-ada']);
  });

  it('without an exact match, adds the oldest account, the same one on every sync', async () => {
    const oldest = await seedMember(db, { email: 'bob@DUP.org' });
    await seedMember(db, { email: 'BOB@dup.org' });
    const { event, message } = await linkedEvent();
    luma.serve({ events: { [message.externalEventId]: [{ id: 'gst-bob', email: 'Bob@dup.org' }] } });

    const first = await syncEvent(syncDeps(db), message);
    const again = await syncEvent(syncDeps(db), message);

    assert.equal(first.created, 1);
    assert.equal(again.created, 0);
    assert.equal(again.ambiguous, 1);
    assert.deepEqual(
      (await guestsOf(db, event.uid)).map((g) => g.memberUid),
      [oldest.uid],
    );
  });

  it('reports nothing ambiguous when every email matches one member', async () => {
    const carol = await seedMember(db, { email: 'carol@dup.org' });
    const { message } = await linkedEvent();
    luma.serve({ events: { [message.externalEventId]: [{ id: 'gst-carol', email: carol.email! }] } });
    const result = await syncEvent(syncDeps(db), message);
    assert.equal(result.created, 1);
    assert.equal(result.ambiguous, undefined);
  });
});
