import { ChangeMessageVisibilityCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { errorKind, isContention, isPermanent, SyncDeferredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { EventSyncRunningError } from '../sync/claim.ts';
import type { SyncMessage, SyncResult } from '../sync/types.ts';
import { MessageLostError } from './heartbeat.ts';
import { parseSyncMessage } from './message.ts';
import { dropPoison, type MessageContext } from './poison.ts';

/** What the failure hooks are told about one failed sync. */
export interface FailureInfo {
  messageId: string | undefined;
  kind: string;
  permanent: boolean;
  /** True when the message was deleted (dropped) rather than left for redelivery. */
  acknowledged: boolean;
}

export interface ProcessDeps {
  sqs: SQSClient;
  /** The queue the message came from: a message given back early has its visibility changed there. */
  queueUrl: string;
  sync: (message: SyncMessage, signal: AbortSignal) => Promise<SyncResult>;
  log: Logger;
  poisonQueueUrl?: string;
  /** Permanent error kinds still left for redelivery (about the worker, not the message). */
  retryKinds: ReadonlySet<string>;
  /**
   * The longest a refused message (another sync holds the event) is given back for: the
   * queue's visibility timeout, which it would otherwise wait out. Default 120 s.
   */
  maxRefusalDelaySeconds?: number;
  onResult?: (result: SyncResult) => void;
  onFailure?: (err: unknown, info: FailureInfo) => void;
}

/** The longest visibility SQS accepts: 12 hours. */
export const MAX_VISIBILITY_SECONDS = 43_200;

/**
 * One received message, start to end. The message contract: resolves with the message to
 * have sqs-consumer delete it (success, or a permanent failure dropped after logging);
 * throws to leave it for redelivery (a retryable failure, a worker-level permanent one,
 * or an abort by shutdown).
 *
 * Three endings give the message back at a chosen time instead of its visibility timeout:
 * a sync aborted by shutdown is made visible at once (it stopped after a page and recorded
 * its checkpoint, so another replica continues within seconds); a deferred sync (a
 * Retry-After beyond LUMA_MAX_WAIT_IN_SYNC_SECONDS) comes back after the delay it was
 * given; a refused one (another sync holds the event) comes back just after the holder's
 * lease would run out (refusalDelaySeconds). `stopHold` ends the visibility heartbeat
 * first, and waits for an extension in flight, so that none can land after the change and
 * undo it.
 */
export async function processMessage(
  deps: ProcessDeps,
  message: Message,
  signal: AbortSignal,
  stopHold?: () => Promise<void> | void,
): Promise<Message | undefined> {
  const context: MessageContext = {
    messageId: message.MessageId,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
    groupId: message.Attributes?.MessageGroupId,
  };
  deps.log.debug(context, 'sync message received');
  try {
    const result = await deps.sync(parseSyncMessage(message.Body), signal);
    deps.onResult?.(result);
    return message;
  } catch (err) {
    const kind = errorKind(err);
    const failure = (permanent: boolean, acknowledged: boolean) =>
      deps.onFailure?.(err, { messageId: message.MessageId, kind, permanent, acknowledged });
    // Not a failure to count: the message comes back after `seconds`, its heartbeat ended first.
    const comeBackAfter = async (seconds: number) => {
      failure(false, false);
      await stopHold?.();
      await giveBack(deps, message, seconds);
    };
    if (signal.aborted) {
      // It reappears after its visibility timeout (at once when the heartbeat lost it); the sync is idempotent.
      const lost = signal.reason instanceof MessageLostError;
      deps.log.warn(
        { ...context, kind, reason: lost ? signal.reason.message : undefined },
        lost
          ? 'sync aborted: its message can no longer be held'
          : 'sync aborted by shutdown: message made visible again for another worker',
      );
      if (lost) failure(false, false);
      else await comeBackAfter(0);
      throw err;
    }
    if (err instanceof SyncDeferredError) {
      const delaySeconds = Math.min(err.delaySeconds, MAX_VISIBILITY_SECONDS);
      deps.log.info({ ...context, kind, delaySeconds, reason: err.message }, 'sync deferred: message comes back later');
      await comeBackAfter(delaySeconds);
      throw err;
    }
    if (err instanceof EventSyncRunningError) {
      // Not a failure: another sync of the event holds its claim. Tried again once that
      // claim would have run out: at once if its holder died, else refused again then.
      const delaySeconds = refusalDelaySeconds(
        err,
        deps.maxRefusalDelaySeconds ?? DEFAULT_MAX_REFUSAL_DELAY_SECONDS,
        context.receiveCount,
      );
      deps.log.info(
        { ...context, kind, delaySeconds, reason: err.message },
        'sync refused: the event is being synced elsewhere',
      );
      await comeBackAfter(delaySeconds);
      throw err;
    }
    if (isContention(err)) {
      // Another session was in the way (a lock_timeout, a serialization failure): ordinary,
      // and over soon. Counted as no failure, and not left to wait out the visibility timeout.
      const delaySeconds = contentionDelaySeconds(
        deps.maxRefusalDelaySeconds ?? DEFAULT_MAX_REFUSAL_DELAY_SECONDS,
        context.receiveCount,
      );
      deps.log.warn(
        { ...context, kind, delaySeconds, reason: (err as Error).message },
        'sync met contention in the database: message comes back later',
      );
      await comeBackAfter(delaySeconds);
      throw err;
    }
    const permanent = isPermanent(err);
    if (permanent && !deps.retryKinds.has(kind)) {
      const dropped = await dropPoison(deps, message, err, context);
      failure(true, dropped);
      if (!dropped) throw err;
      return message;
    }
    deps.log.warn({ ...context, kind, permanent, err }, 'sync failed: message left for redelivery');
    failure(permanent, false);
    throw err;
  }
}

const DEFAULT_MAX_REFUSAL_DELAY_SECONDS = 120;

/**
 * When a refused message comes back. The first time: a second after the holder's claim
 * would run out (measured by the database, so a replica's wrong clock cannot shorten or
 * stretch it), at least 1 s, and never later than `visibilitySeconds` (the timeout it
 * would wait out otherwise): a holder that died is replaced at once rather than a whole
 * visibility timeout later. Received again, the holder was alive then: a long sync (an
 * operator's `sync --event`, say). Every receive counts toward the queue's
 * maxReceiveCount, so the wait doubles from the visibility timeout (up to SQS's 12 hours)
 * rather than sending the message to the DLQ within a few leases.
 */
export function refusalDelaySeconds(err: EventSyncRunningError, visibilitySeconds: number, receiveCount = 1): number {
  if (receiveCount >= 2) return doubledPerReceive(visibilitySeconds, receiveCount);
  const remainingSeconds = Math.ceil((err.remainingLeaseMs ?? 0) / 1000);
  return Math.max(1, Math.min(visibilitySeconds, remainingSeconds + 1));
}

/** How soon a message whose sync met contention comes back the first time. */
export const CONTENTION_RETRY_SECONDS = 5;

/**
 * When a message whose sync met contention comes back: after a few seconds the first
 * time (a lock another session holds is usually gone by then); received again, the
 * contention lasted (a long migration, a busy directory), and the wait doubles from the
 * visibility timeout, as for a refusal, so that every receive — each counts toward the
 * queue's maxReceiveCount — buys more time than the last before the DLQ.
 */
export function contentionDelaySeconds(visibilitySeconds: number, receiveCount = 1): number {
  if (receiveCount >= 2) return doubledPerReceive(visibilitySeconds, receiveCount);
  return CONTENTION_RETRY_SECONDS;
}

/**
 * The wait of a message given back again (`receiveCount` ≥ 2): the visibility timeout at
 * the second receive, doubling with each receive after it, up to SQS's 12 hours.
 */
function doubledPerReceive(visibilitySeconds: number, receiveCount: number): number {
  return Math.min(MAX_VISIBILITY_SECONDS, visibilitySeconds * 2 ** (receiveCount - 2));
}

/** Sets the message's visibility to `seconds` from now; a failure only leaves it to its timeout. */
async function giveBack(deps: ProcessDeps, message: Message, seconds: number): Promise<void> {
  try {
    await deps.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: deps.queueUrl,
        ReceiptHandle: message.ReceiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  } catch (err) {
    deps.log.warn({ err, messageId: message.MessageId, seconds }, 'could not change the visibility of a message');
  }
}

/** Makes messages visible again at once; a failure only delays them to their timeout. */
export async function releaseMessages(
  deps: { sqs: SQSClient; queueUrl: string; log: Logger },
  messages: readonly Message[],
): Promise<void> {
  await Promise.all(
    messages.map((message) =>
      deps.sqs
        .send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: deps.queueUrl,
            ReceiptHandle: message.ReceiptHandle,
            VisibilityTimeout: 0,
          }),
        )
        .then(
          () => deps.log.debug({ messageId: message.MessageId }, 'message received while stopping: released'),
          (err: unknown) => deps.log.warn({ err, messageId: message.MessageId }, 'could not release a message'),
        ),
    ),
  );
}
