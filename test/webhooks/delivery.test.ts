import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadDeliveryError, parseDelivery } from '../../src/webhooks/delivery.ts';

const registered = (data: unknown) => JSON.stringify({ type: 'guest.registered', data });

describe('parseDelivery', () => {
  it('reads the Luma event id of a guest delivery from data.event.id', () => {
    assert.deepEqual(parseDelivery(registered({ event: { id: 'evt-1' } })), {
      type: 'guest.registered',
      lumaEventId: 'evt-1',
    });
  });

  it('accepts the flat data.event_id and data.event_api_id of older payloads', () => {
    assert.equal(parseDelivery(registered({ event_id: 'evt-flat' })).lumaEventId, 'evt-flat');
    assert.equal(parseDelivery(registered({ event_api_id: 'evt-api' })).lumaEventId, 'evt-api');
    // The documented event object wins over a flat id.
    assert.equal(parseDelivery(registered({ event: { id: 'evt-obj' }, event_id: 'evt-flat' })).lumaEventId, 'evt-obj');
  });

  it('passes other delivery types through with no event id, whatever their data', () => {
    assert.deepEqual(parseDelivery(JSON.stringify({ type: 'event.updated', data: null })), { type: 'event.updated' });
  });

  // Each of these must be a 400 (BadDeliveryError), never a TypeError that the server turns into a 500.
  const bad: Array<[string, string, RegExp]> = [
    ['a body that is not JSON', '{', /body is not JSON/],
    ['a null body', 'null', /body is not a JSON object/],
    ['an array body', '[{"type":"guest.registered"}]', /body is not a JSON object/],
    ['a string body', '"guest.registered"', /body is not a JSON object/],
    ['no type', '{"data":{}}', /type is missing/],
    ['an empty type', '{"type":""}', /type is missing/],
    ['a guest delivery without data', '{"type":"guest.updated"}', /guest\.updated without a data object/],
    ['a guest delivery whose data is null', registered(null), /without a data object/],
    ['a guest delivery whose data is an array', registered([{ event: { id: 'e' } }]), /without a data object/],
    ['a guest delivery without an event id', registered({ guest: {} }), /without data\.event\.id/],
    ['a blank event id', registered({ event: { id: '  ' } }), /without data\.event\.id/],
    ['a numeric event id', registered({ event: { id: 7 } }), /without data\.event\.id/],
  ];
  for (const [what, body, reason] of bad) {
    it(`rejects ${what} with a BadDeliveryError naming the problem`, () => {
      assert.throws(
        () => parseDelivery(body),
        (err: unknown) =>
          err instanceof BadDeliveryError && err.name === 'BadDeliveryError' && reason.test(err.message),
      );
    });
  }

  it('takes an event id of 256 characters and rejects a longer one', () => {
    assert.equal(parseDelivery(registered({ event: { id: 'e'.repeat(256) } })).lumaEventId?.length, 256);
    assert.throws(
      () => parseDelivery(registered({ event: { id: 'e'.repeat(257) } })),
      (err: unknown) => err instanceof BadDeliveryError && /longer than 256/.test(err.message),
    );
  });
});
