import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/config.ts';
import type { Db } from '../db/client.ts';
import type { Logger } from '../log.ts';
import { toSyncMessage } from '../schedule/enqueue.ts';
import { keyedDeduplicationId, sendSyncMessages } from '../schedule/send-messages.ts';
import { WebhookDebouncer } from './debounce.ts';
import { findLinkedEvents } from './linked-events.ts';
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
}): Promise<{ port: number; stop(): Promise<void> }> {
  const { webhook } = deps.config;
  const log = deps.log.child({ component: 'LumaWebhookReceiver' });
  if (!webhook.secret) {
    log.warn('LUMA_WEBHOOK_SECRET is not set: deliveries are not verified (each can only trigger a bounded re-read)');
  }
  const debouncer = new WebhookDebouncer({
    windowMs: deps.windowMs ?? webhook.debounceSeconds * 1000,
    maxPerEventPerHour: webhook.maxPerEventPerHour,
    maxPerMinute: webhook.maxPerMinute,
    log,
    send: async (event, windowStart) => {
      const slot = windowStart.toISOString();
      const { failed } = await sendSyncMessages(deps, [
        {
          message: { ...toSyncMessage(event, windowStart), trigger: 'webhook' },
          deduplicationId: keyedDeduplicationId(event.eventUid, 'webhook', slot),
        },
      ]);
      if (failed > 0) throw new Error(`SQS refused the webhook-triggered sync of ${event.eventUid}`);
      log.debug({ eventUid: event.eventUid, window: slot }, 'webhook-triggered sync enqueued');
    },
  });
  const server = await startWebhookServer({
    port: webhook.port,
    verify: webhook.secret ? createVerifier(webhook.secret) : undefined,
    findLinkedEvents: (lumaEventId) => findLinkedEvents(deps, lumaEventId, new Date()),
    offer: (event) => debouncer.offer(event),
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
