import { ChangeMessageVisibilityCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '../log.ts';

/**
 * Why an extension failed: SQS no longer knows the receipt (the message was received by
 * someone else, deleted, or the handle expired), SQS could not be reached (network, a
 * timeout, a 5xx, throttling), or SQS refused for another reason.
 */
export type HeartbeatFailureReason = 'receipt_invalid' | 'unreachable' | 'rejected';

/**
 * The abort reason of a sync whose message this worker can no longer keep hidden. Its
 * kind names the failure in the history, the log and the metrics (errorKind).
 */
export class MessageLostError extends Error {
  override name = 'MessageLostError';
  readonly kind = 'message_lost';
}

export interface HoldOptions {
  sqs: Pick<SQSClient, 'send'>;
  queueUrl: string;
  message: Pick<Message, 'MessageId' | 'ReceiptHandle'>;
  visibilityTimeoutSeconds: number;
  intervalSeconds: number;
  log: Logger;
  /** Told about every failed extension except the benign race with the end of the sync. */
  onFailure?: (reason: HeartbeatFailureReason) => void;
  /** Called once when the message can no longer be held: it is, or soon will be, visible to others. */
  onLost: (err: MessageLostError) => void;
}

const RECEIPT_GONE = new Set([
  'ReceiptHandleIsInvalid',
  'MessageNotInflight',
  'AWS.SimpleQueueService.MessageNotInflight',
]);

export function classifyHeartbeatFailure(err: unknown): HeartbeatFailureReason {
  const e = err as { name?: string; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  if (RECEIPT_GONE.has(e.name ?? '')) return 'receipt_invalid';
  // An expired handle comes back as a generic parameter error naming the receipt handle.
  if (e.name === 'InvalidParameterValue' && /receipt handle/i.test(e.message ?? '')) return 'receipt_invalid';
  if (e.$fault === 'client' && e.$metadata?.httpStatusCode !== 429) return 'rejected';
  return 'unreachable';
}

/**
 * Keeps one message hidden while its sync runs, by extending its visibility every
 * `intervalSeconds`. Our own rather than sqs-consumer's heartbeat, which reports every
 * failure alike and never stops the sync: here a failure after the sync ended (the delete
 * won the race) stays at debug; any other is a warning with its reason and counted; and
 * when the message can no longer be held — SQS says the receipt is gone, or its visibility
 * timeout passed without a successful extension — the sync is aborted, because another
 * worker may receive the message now. Its message then comes back; the sync is idempotent.
 * Failures before that are retried at the next beat (a third of the timeout by default).
 */
export function holdMessage(options: HoldOptions): { stop(): Promise<void> } {
  const { log, message } = options;
  const visibilityMs = options.visibilityTimeoutSeconds * 1000;
  const intervalMs = options.intervalSeconds * 1000;
  // From the handler's start: the receive happened a little earlier, so this errs late by that much.
  let heldUntil = Date.now() + visibilityMs;
  let stopped = false;
  let lost = false;

  const lose = (why: string) => {
    if (lost || stopped) return;
    lost = true;
    clearInterval(timer);
    options.onLost(new MessageLostError(`message ${message.MessageId} can no longer be held: ${why}`));
  };

  const expireIfNotExtended = () => {
    if (Date.now() >= heldUntil) lose('its visibility timeout passed without an extension');
  };

  const beat = async () => {
    const sentAt = Date.now();
    try {
      await options.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: options.queueUrl,
          ReceiptHandle: message.ReceiptHandle,
          VisibilityTimeout: options.visibilityTimeoutSeconds,
        }),
        // A call still hanging when the message reappears has failed to hold it.
        { abortSignal: AbortSignal.timeout(Math.max(heldUntil - sentAt, 1)) },
      );
      heldUntil = sentAt + visibilityMs;
    } catch (err) {
      if (stopped) {
        log.debug({ err, messageId: message.MessageId }, 'heartbeat lost a race with the end of a sync');
        return;
      }
      const reason = classifyHeartbeatFailure(err);
      const heldForMs = heldUntil - Date.now();
      log.warn({ err, messageId: message.MessageId, reason, heldForMs }, 'visibility extension failed');
      options.onFailure?.(reason);
      if (reason === 'receipt_invalid') lose('SQS no longer knows its receipt handle');
      else if (Date.now() >= heldUntil) lose('its visibility timeout passed without an extension');
      // The next beat may come after the message reappears: look again the moment it does.
      else setTimeout(expireIfNotExtended, heldUntil - Date.now()).unref();
    }
  };

  // The extension in flight, if any: one that lands after a caller's own visibility change
  // would undo it, so stop() lets the caller wait for it.
  let beating: Promise<void> | undefined;
  const timer = setInterval(() => {
    const current = beat().finally(() => {
      if (beating === current) beating = undefined;
    });
    beating = current;
  }, intervalMs);
  return {
    /** Stops extending; resolves once no extension is in flight any more. */
    stop() {
      stopped = true;
      clearInterval(timer);
      return beating ?? Promise.resolve();
    },
  };
}
