import { once } from 'node:events';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import { visibilityHeartbeatSeconds } from '../config/claim-timing.ts';
import type { Logger } from '../log.ts';
import { SyncInterruptedError } from '../sync/interrupted.ts';
import type { SyncMessage, SyncResult } from '../sync/types.ts';
import { withAbortableReceives } from './abortable-receives.ts';
import { type HeartbeatFailureReason, holdMessage } from './heartbeat.ts';
import { listenToPoller } from './poller-events.ts';
import { type FailureInfo, type ProcessDeps, processMessage, releaseMessages } from './process-message.ts';
import { createReceiveHealth, type ReceiveHealth } from './receive-health.ts';

/**
 * Permanent errors that are about this worker, not the message: a fixed API key or
 * provider config makes the same message succeed. They are left for redelivery (and the
 * DLQ) instead of being dropped, so an operator's fix recovers them without waiting for
 * the next slot.
 */
export const WORKER_PERMANENT_KINDS: readonly string[] = ['luma_auth', 'provider_not_configured'];

export interface SyncConsumerDeps {
  sqs: SQSClient;
  queueUrl: string;
  log: Logger;
  /**
   * Syncs one event; must stop soon after `signal` aborts (after the page being written, its
   * checkpoint recorded and its claim released), leaving the event as a redelivery can finish.
   */
  sync: (message: SyncMessage, signal: AbortSignal) => Promise<SyncResult>;
}

export interface SyncConsumerOptions {
  /** Events synced at once, each by its own poller. */
  concurrency: number;
  visibilityTimeoutSeconds: number;
  waitTimeSeconds: number;
  /** Seconds between visibility extensions; default a third of the visibility timeout. */
  heartbeatIntervalSeconds?: number;
  /** Where a copy of each dropped (permanently failing) message goes before it is deleted. */
  poisonQueueUrl?: string;
  /** Permanent error kinds still left for redelivery; default WORKER_PERMANENT_KINDS. */
  retryPermanentKinds?: readonly string[];
  /** After aborting at the end of the grace, how long to wait for the aborted syncs to return. */
  abortWaitMs?: number;
  onResult?: (result: SyncResult) => void;
  onFailure?: (err: unknown, info: FailureInfo) => void;
  /** Told about every failed visibility extension, except the benign race with a sync's end. */
  onHeartbeatFailure?: (reason: HeartbeatFailureReason) => void;
}

export interface StopReport {
  /** Syncs in flight when stop() was called that then finished (either way) within the grace. */
  completed: number;
  /** Syncs aborted at the end of the grace; their messages are made visible again at once. */
  aborted: number;
}

/**
 * The SQS consumer: receives one message per event, syncs it, and deletes it on success.
 * One start/stop life: a stopped consumer is not restarted; make a new one.
 *
 * Concurrency is `concurrency` sqs-consumer pollers with batchSize 1, not one poller with a
 * larger batch: sqs-consumer waits for a whole batch before polling again (one slow event
 * would idle the other slots) and handleMessage with a batch could run two messages of one
 * group at once. With one message per receive, FIFO order holds by SQS's own rule: while a
 * group's message is in flight, no other message of that group is handed out.
 *
 * Contract: success deletes; a retryable error leaves the message (redelivered after the
 * visibility timeout, to the DLQ past maxReceiveCount); a permanent error about the message
 * logs it at error with its reason, copies it to the poison queue when one is configured,
 * and deletes it, because no redelivery can succeed and FIFO would hold its group meanwhile.
 */
export class SyncConsumer {
  readonly #deps: SyncConsumerDeps;
  readonly #options: SyncConsumerOptions;
  readonly #log: Logger;
  readonly #processDeps: ProcessDeps;
  readonly #receives: ReturnType<typeof withAbortableReceives>;
  #consumers: Consumer[] = [];
  #heartbeatSeconds: number | undefined;
  readonly #inFlight = new Set<InFlight>();
  /** Acknowledged messages whose delete sqs-consumer has not finished, by message id. */
  readonly #deleting = new Map<string, { done: Promise<void>; finish: () => void }>();
  /** Releases of messages that reached us after polling stopped. */
  readonly #releasing: Array<{ done: Promise<void> }> = [];
  /** Set once polling stops: each poller's 'stopped' event. */
  #pollersStopped: Promise<unknown> | undefined;
  #stopping: Promise<StopReport> | undefined;
  readonly #receiveHealth: ReceiveHealth;

  constructor(deps: SyncConsumerDeps, options: SyncConsumerOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#log = deps.log.child({ component: 'SyncConsumer' });
    this.#receives = withAbortableReceives(deps.sqs);
    this.#receiveHealth = createReceiveHealth(this.#log, deps.queueUrl);
    this.#processDeps = {
      sqs: deps.sqs,
      queueUrl: deps.queueUrl,
      sync: deps.sync,
      log: this.#log,
      poisonQueueUrl: options.poisonQueueUrl,
      retryKinds: new Set(options.retryPermanentKinds ?? WORKER_PERMANENT_KINDS),
      maxRefusalDelaySeconds: options.visibilityTimeoutSeconds,
      onResult: options.onResult,
      onFailure: options.onFailure,
    };
  }

  start(): void {
    if (this.#consumers.length > 0 || this.#pollersStopped) return;
    const { visibilityTimeoutSeconds: visibility } = this.#options;
    // The heartbeat must fire before the message reappears; with 1 s there is no room for one.
    const heartbeat = this.#options.heartbeatIntervalSeconds ?? visibilityHeartbeatSeconds(visibility);
    const heartbeatInterval = heartbeat >= 1 && heartbeat < visibility ? heartbeat : undefined;
    this.#heartbeatSeconds = heartbeatInterval;
    if (heartbeatInterval === undefined) {
      this.#log.warn(
        { visibility, heartbeat },
        'no heartbeat: a sync longer than the visibility timeout is redelivered',
      );
    }
    for (let i = 0; i < this.#options.concurrency; i++) {
      const consumer = Consumer.create({
        sqs: this.#receives.client,
        queueUrl: this.#deps.queueUrl,
        handleMessage: (message) => this.#handle(message),
        batchSize: 1,
        visibilityTimeout: visibility,
        // No heartbeatInterval: the heartbeat is ours (heartbeat.ts), to tell failures apart.
        waitTimeSeconds: this.#options.waitTimeSeconds,
        suppressFifoWarning: true,
        messageSystemAttributeNames: ['ApproximateReceiveCount', 'MessageGroupId'],
      });
      listenToPoller(consumer, {
        log: this.#log,
        pollingStopped: () => this.#pollersStopped !== undefined,
        onPoll: (ok, err) => this.#receiveHealth.record(ok, err),
        onDeleteSettled: (messageId) => this.#deleted(messageId),
      });
      this.#consumers.push(consumer);
    }
    for (const consumer of this.#consumers) consumer.start();
    this.#log.info(
      { queueUrl: this.#deps.queueUrl, concurrency: this.#options.concurrency, visibility, heartbeatInterval },
      'consumer started',
    );
  }

  /** Polling and not stopping. */
  get isRunning(): boolean {
    return !this.#pollersStopped && this.#consumers.some((c) => c.status.isRunning);
  }

  /** For /readyz: running, and the latest receive did not fail (unknown before the first answers). */
  get health(): { running: boolean; pollOk: boolean; lastPollAt: Date | undefined; inFlight: number } {
    return {
      running: this.isRunning,
      pollOk: this.#receiveHealth.ok,
      lastPollAt: this.#receiveHealth.lastOkAt,
      inFlight: this.#inFlight.size,
    };
  }

  /**
   * Takes no more messages: stops every poller and aborts its open long poll at once, so an
   * idle worker need not wait out the poll. In-flight syncs go on. Idempotent; stop() calls it.
   */
  stopPolling(): void {
    if (this.#pollersStopped) return;
    // sqs-consumer may emit 'stopped' inside stop(), so listen first.
    this.#pollersStopped = Promise.all(this.#consumers.map((c) => once(c, 'stopped')));
    for (const consumer of this.#consumers) consumer.stop();
    this.#receives.abort(new Error('consumer stopped polling'));
  }

  /**
   * Stops polling at once, lets in-flight syncs finish for up to graceMs, then aborts the
   * rest; their messages are left to reappear after the visibility timeout. Idempotent.
   */
  stop(options: { graceMs?: number } = {}): Promise<StopReport> {
    this.#stopping ??= this.#stop(options.graceMs ?? 25_000);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<StopReport> {
    // The syncs in flight when stop() was called: one that ends while the pollers stop
    // still counts as completed within the grace.
    const running = [...this.#inFlight.values()];
    this.stopPolling();
    await this.#pollersStopped;

    await settledWithin(running, graceMs);

    const late = running.filter((r) => !r.settled);
    if (late.length > 0) {
      this.#log.warn({ graceMs, aborted: late.length }, 'syncs still running at the end of the grace: aborting them');
      for (const r of late) r.controller.abort(new SyncInterruptedError('the worker is shutting down'));
      // A sync that ignores its signal must not hold shutdown forever; its message reappears anyway.
      await settledWithin(late, this.#options.abortWaitMs ?? 5_000);
    }
    // sqs-consumer deletes an acknowledged message after the handler returns: wait for
    // those deletes too, or closing the SQS client next could cut one off (a redelivery).
    await settledWithin([...this.#deleting.values(), ...this.#releasing], this.#options.abortWaitMs ?? 5_000);
    const report = { completed: running.length - late.length, aborted: late.length };
    this.#log.info(report, 'consumer stopped');
    return report;
  }

  async #handle(message: Message): Promise<Message | undefined> {
    if (this.#pollersStopped) {
      // A poll answered just as polling stopped. Not synced: made visible again at once, so
      // another worker takes it now rather than after its visibility timeout. No poller of
      // ours can receive it back: all of them are stopped.
      this.#log.debug({ messageId: message.MessageId }, 'message received while stopping: releasing it');
      this.#releasing.push({ done: releaseMessages({ ...this.#deps, log: this.#log }, [message]) });
      return undefined;
    }
    const controller = new AbortController();
    const hold = this.#hold(message, controller);
    const entry: InFlight = {
      controller,
      // The heartbeat ends before sqs-consumer deletes the message, so a late one is a race.
      done: processMessage(this.#processDeps, message, controller.signal, () => hold?.stop()).finally(
        () => void hold?.stop(),
      ),
      settled: false,
    };
    this.#inFlight.add(entry);
    const settle = () => {
      entry.settled = true;
      this.#inFlight.delete(entry);
    };
    // Marked before anyone else awaits `done`, so stop() sees it as soon as it settles; an
    // acknowledged message is tracked until sqs-consumer has deleted it.
    entry.done.then((acked) => {
      settle();
      if (acked?.MessageId) this.#awaitDelete(acked.MessageId);
    }, settle);
    return entry.done;
  }

  /** Keeps the message hidden while its sync runs; aborts the sync when it can no longer. */
  #hold(message: Message, controller: AbortController) {
    if (this.#heartbeatSeconds === undefined) return undefined;
    return holdMessage({
      sqs: this.#deps.sqs,
      queueUrl: this.#deps.queueUrl,
      message,
      visibilityTimeoutSeconds: this.#options.visibilityTimeoutSeconds,
      intervalSeconds: this.#heartbeatSeconds,
      log: this.#log,
      onFailure: this.#options.onHeartbeatFailure,
      onLost: (err) => controller.abort(err),
    });
  }

  /** Tracks the delete sqs-consumer makes of an acknowledged message, until it ends either way. */
  #awaitDelete(messageId: string): void {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#deleting.set(messageId, { done: promise, finish: resolve });
  }

  #deleted(messageId: string): void {
    this.#deleting.get(messageId)?.finish();
    this.#deleting.delete(messageId);
  }
}

interface InFlight {
  controller: AbortController;
  done: Promise<Message | undefined>;
  settled: boolean;
}

/** Waits until every entry settled or `ms` passed, whichever is first. */
async function settledWithin(entries: ReadonlyArray<{ done: Promise<unknown> }>, ms: number): Promise<void> {
  if (entries.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.allSettled(entries.map((r) => r.done)), expired]);
  clearTimeout(timer);
}
