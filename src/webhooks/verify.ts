import type { IncomingHttpHeaders } from 'node:http';
import { Webhook } from 'standardwebhooks';

/** Checks one delivery's signature; throws SignatureError when it is missing or wrong. */
export type Verifier = (rawBody: string, headers: IncomingHttpHeaders) => void;

export class SignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignatureError';
  }
}

const HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/**
 * Standard Webhooks verification (HMAC-SHA256 over `id.timestamp.body` with the base64
 * key after `whsec_`, timestamps within 5 minutes, several `v1,` signatures accepted for
 * key rotation) through the `standardwebhooks` library. Luma does not document its
 * scheme: this is the one its `whsec_` secrets suggest. The reason names what failed,
 * never the secret or the expected signature.
 */
export function createVerifier(secret: string): Verifier {
  const webhook = new Webhook(secret);
  return (rawBody, headers) => {
    const picked: Record<string, string> = {};
    for (const name of HEADERS) {
      const value = headers[name];
      if (typeof value !== 'string' || value === '') throw new SignatureError(`the ${name} header is missing`);
      picked[name] = value;
    }
    try {
      // The body is parsed by delivery.ts, which answers 400 for bad JSON, not 401.
      webhook.verify(rawBody, picked, { jsonParse: false });
    } catch (err) {
      // The library's messages are fixed texts ("No matching signature found", "Message timestamp too old").
      throw new SignatureError((err as Error).message || 'signature verification failed');
    }
  };
}
