import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/config.ts';
import type { Db } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { toSyncMessage } from '../schedule/enqueue.ts';
import { keyedDeduplicationId, sendSyncMessages } from '../schedule/send-messages.ts';
import { WebhookDebouncer } from './debounce.ts';
import { findLinkedEvents } from './linked-events.ts';
import { gateLookups } from './lookup-gate.ts';
import { startWebhookServer, type WebhookOutcome } from './server.ts';
import { createVerifier } from './verify.ts';

/**
 * The webhook receiver as the daemon runs it: the HTTP server, signature verification
 * when a secret is set, the directory lookup, and the debounced enqueue of
 * trigger-"webhook" syncs on the sync queue. stop() closes the server first, then sends
 * what still waits for its window, so no acknowledged delivery is dropped by a shutdown.
 */
export async function startWebhookReceiver(deps: {
  config: Readonly<Config>;
  db: Db;
  sqs: SQSClient;
  queueUrl: string;
  log: Logger;
  onOutcome?: (outcome: WebhookOutcome) => void;
  /** The debounce window in ms, instead of LUMA_WEBHOOK_DEBOUNCE_SECONDS: the bench compresses time. */
  windowMs?: number;
  /** The clock the debounce windows are aligned to (epoch ms); Date.now by default. Tests hold it inside one window. */
  now?: () => number;
}): Promise<{ port: number; stop(): Promise<void> }> {
  const { webhook } = deps.config;
  const log = deps.log.child({ component: 'LumaWebhookReceiver' });
  if (!webhook.secret) {
    // Only with LUMA_WEBHOOK_ALLOW_UNSIGNED=true (config.ts refuses it otherwise).
    log.warn(
      { allowUnsigned: webhook.allowUnsigned },
      'LUMA_WEBHOOK_SECRET is not set: deliveries are NOT verified — anyone who reaches the port can trigger syncs, within the caps',
    );
  }
  const windowMs = deps.windowMs ?? webhook.debounceSeconds * 1000;
  const { rateLimitPerMinute, rateLimitWindowMs } = deps.config.luma;
  const debouncer = new WebhookDebouncer({
    windowMs,
    now: deps.now,
    maxPerEventPerHour: webhook.maxPerEventPerHour,
    maxPerMinute: webhook.maxPerMinute,
    // The webhooks' own share of the key's budget, per minute, as the tiers have theirs.
    requestsPerMinute: Math.max(1, Math.floor((webhook.budgetShare * rateLimitPerMinute * 60_000) / rateLimitWindowMs)),
    log,
    send: async (event, windowStart, early) => {
      const slot = windowStart.toISOString();
      // An early send (shutdown) gets an id of its own: the window's id is left to the
      // replicas that send at the window's end, after every delivery they acknowledged.
      const deduplicationId = early
        ? keyedDeduplicationId(event.eventUid, 'webhook', slot, 'early', randomUUID())
        : keyedDeduplicationId(event.eventUid, 'webhook', slot);
      const { failed } = await sendSyncMessages(deps, [
        { message: { ...toSyncMessage(event, windowStart), trigger: 'webhook' }, deduplicationId },
      ]);
      if (failed > 0) throw new Error(`SQS refused the webhook-triggered sync of ${event.eventUid}`);
      log.debug({ eventUid: event.eventUid, window: slot }, 'webhook-triggered sync enqueued');
    },
  });
  const server = await startWebhookServer({
    port: webhook.port,
    verify: webhook.secret ? createVerifier(webhook.secret) : undefined,
    findLinkedEvents: gateLookups((lumaEventId) => findLinkedEvents(deps, lumaEventId, new Date()), {
      maxPerMinute: webhook.maxLookupsPerMinute,
      reuseMs: windowMs,
    }),
    offer: (event) => debouncer.offer(event, event.lastPages ?? 1),
    log,
    onOutcome: deps.onOutcome,
  });
  return {
    port: server.port,
    async stop() {
      await server.close();
      await debouncer.stop();
    },
  };
}
