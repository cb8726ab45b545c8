import type { Consumer } from 'sqs-consumer';
import type { Logger } from '../log.ts';

/** Wait between polls while receives fail: 1 s doubling to 10 s, back to none on success. */
const RECEIVE_BACKOFF = { firstMs: 1_000, maxMs: 10_000 };

export interface PollerEventHandlers {
  log: Logger;
  /** True once polling was stopped on purpose: an aborted receive is then expected. */
  pollingStopped(): boolean;
  /** Every receive's outcome, for /readyz; a failed one with its error, which the consumer logs (once per outage). */
  onPoll(ok: boolean, err?: unknown): void;
  /** A message sqs-consumer finished with (deleted, or its delete failed). */
  onDeleteSettled(messageId: string): void;
}

/**
 * Listens to one sqs-consumer poller: logs its errors at the level they deserve and backs
 * off while receives fail. sqs-consumer polls again at once after most failed receives (a
 * refused connection included): without a back-off an SQS outage is a busy loop of error lines.
 */
export function listenToPoller(consumer: Consumer, handlers: PollerEventHandlers): void {
  const { log } = handlers;
  consumer.on('message_processed', (message) => {
    if (message.MessageId) handlers.onDeleteSettled(message.MessageId);
  });
  let backoffMs = 0;
  const pollOk = () => {
    if (backoffMs > 0) {
      backoffMs = 0;
      consumer.updateOption('pollingWaitTimeMs', 0);
    }
    handlers.onPoll(true);
  };
  consumer.on('message_received', pollOk);
  consumer.on('empty', pollOk);
  consumer.on('error', (err, message) => {
    const messageId = Array.isArray(message) ? message.map((m) => m.MessageId) : message?.MessageId;
    if (!message && handlers.pollingStopped()) {
      // The open long poll, aborted because polling stopped: expected, not an SQS failure.
      log.debug({ err }, 'long poll aborted: polling stopped');
    } else if (!message) {
      // No message: the receive itself failed. sqs-consumer retries on its own.
      backoffMs = Math.min(Math.max(backoffMs * 2, RECEIVE_BACKOFF.firstMs), RECEIVE_BACKOFF.maxMs);
      // Takes effect from the poll after next: sqs-consumer reads the wait as a poll starts.
      consumer.updateOption('pollingWaitTimeMs', backoffMs);
      handlers.onPoll(false, err);
    } else {
      // The heartbeat is ours (heartbeat.ts), so this is a failed delete: the message comes back.
      log.error({ err, messageId }, 'SQS error on a message');
      if (typeof messageId === 'string') handlers.onDeleteSettled(messageId);
    }
  });
  // Handler failures are already logged by processMessage with their context; these are for tracing.
  consumer.on('processing_error', (err, message) =>
    log.debug({ err, messageId: message.MessageId }, 'processing_error'),
  );
  consumer.on('timeout_error', (err, message) =>
    log.error({ err, messageId: message.MessageId }, 'message handler timed out'),
  );
}
