/**
 * The signature check of a Luma webhook delivery (verify.ts), on its own: each of the
 * three Standard Webhooks headers is required and must be one non-empty value, a good
 * signature passes (one of several during a key rotation too), and the reason given for a
 * refusal names what failed, never the secret.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { createVerifier, SignatureError } from '../../src/webhooks/verify.ts';

const secret = `whsec_${randomBytes(24).toString('base64')}`;
const body = JSON.stringify({ type: 'guest.registered', data: { id: 'gst-1', event: { id: 'evt-1' } } });

function signedHeaders(key = secret, at = new Date()): IncomingHttpHeaders {
  const id = `msg_${randomBytes(6).toString('hex')}`;
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(id, at, body),
  };
}

/** The SignatureError `verify` throws, or a failure when it throws none. */
function refusal(verify: () => void): SignatureError {
  try {
    verify();
  } catch (err) {
    assert.ok(err instanceof SignatureError, `a SignatureError, not ${String(err)}`);
    return err;
  }
  assert.fail('the delivery was accepted');
}

describe('verifying a webhook delivery', () => {
  const verify = createVerifier(secret);

  it('accepts a delivery signed with the secret', () => {
    assert.doesNotThrow(() => verify(body, signedHeaders()));
  });

  it('accepts a delivery carrying several signatures when one matches (key rotation)', () => {
    const headers = signedHeaders();
    const other = new Webhook(`whsec_${randomBytes(24).toString('base64')}`).sign(
      String(headers['webhook-id']),
      new Date(Number(headers['webhook-timestamp']) * 1000),
      body,
    );
    assert.doesNotThrow(() =>
      verify(body, { ...headers, 'webhook-signature': `${other} ${headers['webhook-signature']}` }),
    );
  });

  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    it(`refuses a delivery without the ${name} header, or with it empty or repeated, naming it`, () => {
      const good = signedHeaders();
      const without = { ...good };
      delete without[name];
      for (const headers of [without, { ...good, [name]: '' }, { ...good, [name]: [String(good[name])] }]) {
        const err = refusal(() => verify(body, headers as IncomingHttpHeaders));
        assert.equal(err.message, `the ${name} header is missing`);
        assert.equal(err.name, 'SignatureError');
      }
    });
  }

  it('refuses a forged, a stale and a tampered delivery with the reason, never the secret', () => {
    const forged = refusal(() => verify(body, signedHeaders(`whsec_${randomBytes(24).toString('base64')}`)));
    const stale = refusal(() => verify(body, signedHeaders(secret, new Date(Date.now() - 6 * 60_000))));
    const tampered = refusal(() => verify(body.replace('gst-1', 'gst-2'), signedHeaders()));
    for (const err of [forged, stale, tampered]) {
      assert.ok(err.message.length > 0, 'a reason is given');
      assert.ok(!err.message.includes(secret.slice(6)), 'the secret stays out of the reason');
    }
    assert.match(stale.message, /timestamp/i);
    assert.match(forged.message, /signature/i);
  });
});
