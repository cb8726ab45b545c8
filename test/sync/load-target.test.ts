/**
 * The event a sync writes to is the one the directory has now, not the one the message
 * named hours ago (load-target.ts): each reason the directory can no longer be synced
 * is a permanent failure of its own kind, and a message that is merely out of date is
 * synced against the directory's event, with a warning that names what changed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PermanentError } from '../../src/errors.ts';
import { loadTarget } from '../../src/sync/load-target.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { createTestDatabase } from '../support/db.ts';
import { seedEvent, seedLocation, syncMessageFor } from '../support/seed.ts';
import { captureLogger } from '../support/sqs-queue.ts';

const { db } = await createTestDatabase({ label: 'load_target' });

async function refusal(message: SyncMessage): Promise<string> {
  const { log, lines } = captureLogger();
  const err = await loadTarget(db, message, log).then(
    () => assert.fail('loaded an event that cannot be synced'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PermanentError, `a permanent failure, not ${String(err)}`);
  assert.deepEqual(lines, [], 'nothing logged for a refused event');
  return err.kind;
}

describe('loading the event a message names', () => {
  it('returns the event as the directory has it, logging nothing when the message agrees', async () => {
    const event = await seedEvent(db);
    const { log, lines } = captureLogger();

    const target = await loadTarget(db, syncMessageFor(event), log);

    assert.deepEqual(target, {
      eventUid: event.uid,
      locationUid: event.locationUid,
      externalEventId: event.externalEventId,
    });
    assert.deepEqual(lines, []);
  });

  it('syncs a message whose location is out of date at the directory’s location, warning with both', async () => {
    const event = await seedEvent(db);
    const old = await seedLocation(db);
    const { log, lines } = captureLogger();

    const target = await loadTarget(db, syncMessageFor(event, { locationUid: old.uid }), log);

    assert.equal(target.locationUid, event.locationUid);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.level, 40, 'a warning');
    assert.deepEqual(
      {
        messageLocationUid: lines[0]?.messageLocationUid,
        locationUid: lines[0]?.locationUid,
        externalEventId: lines[0]?.externalEventId,
      },
      { messageLocationUid: old.uid, locationUid: event.locationUid, externalEventId: event.externalEventId },
    );
  });

  it('syncs a message whose Luma id is out of date against the directory’s Luma event, warning', async () => {
    const event = await seedEvent(db);
    const { log, lines } = captureLogger();

    const target = await loadTarget(db, syncMessageFor(event, { externalEventId: 'evt-relinked-away' }), log);

    assert.equal(target.externalEventId, event.externalEventId);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.externalEventId, event.externalEventId);
  });

  it('refuses, each as a permanent failure of its own kind, an event that is gone, deleted, without a location or no longer linked', async () => {
    const missing = { ...syncMessageFor(await seedEvent(db)), eventUid: 'no-such-event' };
    assert.equal(await refusal(missing), 'event_not_found');

    assert.equal(await refusal(syncMessageFor(await seedEvent(db, { isDeleted: true }))), 'event_deleted');

    const nowhere = await seedEvent(db, { locationUid: null });
    assert.equal(
      await refusal({ ...syncMessageFor(nowhere), locationUid: 'loc-in-message' }),
      'event_without_location',
    );

    const unlinked = await seedEvent(db, { externalEventId: null });
    assert.equal(await refusal({ ...syncMessageFor(unlinked), externalEventId: 'evt-in-message' }), 'event_not_linked');

    const noProvider = await seedEvent(db, { externalEventProvider: null });
    assert.equal(await refusal(syncMessageFor(noProvider)), 'event_not_linked');

    const otherProvider = syncMessageFor(await seedEvent(db), {
      providerType: 'MEETUP' as SyncMessage['providerType'],
    });
    assert.equal(await refusal(otherProvider), 'event_not_linked');
  });

  it('checks deletion before the location: a deleted event without a location is reported deleted', async () => {
    const event = await seedEvent(db, { isDeleted: true, locationUid: null });
    assert.equal(await refusal({ ...syncMessageFor(event), locationUid: 'loc-in-message' }), 'event_deleted');
  });
});
