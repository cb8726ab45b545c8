/**
 * Luma's webhook deliveries as the soak sends them: signed with the webhook's secret
 * (Standard Webhooks), to whichever replica the load balancer picks; and the deliveries
 * production also sees — the same one twice, one minutes late, forged ones and unsigned ones.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import { guestDeliveryPayload } from '../../src/local/luma-simulator-webhooks.ts';
import type { Prng } from './prng.ts';

export const DELIVERY_KINDS = ['signed', 'duplicate', 'late', 'forged', 'unsigned', 'lost'] as const;
export type DeliveryKind = (typeof DELIVERY_KINDS)[number];

export interface DeliveryOutcome {
  kind: DeliveryKind;
  /** HTTP statuses of each attempt (0: no replica answered). */
  statuses: number[];
}

export function createWebhookSender(deps: {
  secret: string;
  /** Webhook URLs of the replicas now running (the load balancer's targets). */
  targets: () => string[];
  random: Prng;
}) {
  const forger = new Webhook(`whsec_${randomBytes(24).toString('base64')}`);
  const signer = new Webhook(deps.secret);

  async function post(payload: string, headers: Record<string, string>): Promise<number> {
    const targets = deps.targets();
    // A load balancer retries the next target when one refuses the connection.
    for (let tries = 0; tries < targets.length; tries++) {
      const url = targets[(deps.random.int(0, targets.length - 1) + tries) % targets.length]!;
      const status = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: payload,
        signal: AbortSignal.timeout(10_000),
      }).then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 0) return status;
    }
    return 0;
  }

  /** Sends (or loses) one delivery about `guest` of Luma event `eventId`. */
  async function deliver(
    kind: DeliveryKind,
    type: 'guest.registered' | 'guest.updated',
    eventId: string,
    guest: SimGuest,
    lateMs = 0,
  ): Promise<DeliveryOutcome> {
    const payload = guestDeliveryPayload(type, eventId, guest);
    const id = `msg_${randomUUID()}`;
    const at = new Date();
    const signed = (webhook: Webhook) => ({
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': webhook.sign(id, at, payload),
    });
    const statuses: number[] = [];
    switch (kind) {
      case 'lost':
        break;
      case 'signed':
        statuses.push(await post(payload, signed(signer)));
        break;
      case 'duplicate':
        statuses.push(await post(payload, signed(signer)));
        statuses.push(await post(payload, signed(signer)));
        break;
      case 'late':
        await new Promise((resolve) => setTimeout(resolve, lateMs));
        statuses.push(await post(payload, signed(signer)));
        break;
      case 'forged':
        statuses.push(await post(payload, signed(forger)));
        break;
      case 'unsigned':
        statuses.push(await post(payload, {}));
        break;
    }
    return { kind, statuses };
  }

  return { deliver };
}
