import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import type { Logger } from '../log.ts';
import type { SyncMessage, SyncResult } from '../sync/types.ts';
import { type ProcessDeps, processMessage, releaseMessages } from './process-message.ts';

/** Wait between polls while receives fail: 1 s doubling to 10 s, back to none on success. */
const RECEIVE_BACKOFF = { firstMs: 1_000, maxMs: 10_000 };

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
  /** Syncs one event; must stop soon after `signal` aborts, leaving the event as a redelivery can finish. */
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
}

export interface FailureInfo {
  messageId: string | undefined;
  kind: string;
  permanent: boolean;
  /** True when the message was deleted (dropped) rather than left for redelivery. */
  acknowledged: boolean;
}

export interface StopReport {
  /** Syncs in flight when stop() was called that then finished (either way) within the grace. */
  completed: number;
  /** Syncs aborted at the end of the grace; their messages are left for redelivery. */
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
  #consumers: Consumer[] = [];
  readonly #inFlight = new Set<InFlight>();
  /** Acknowledged messages whose delete sqs-consumer has not finished, by message id. */
  readonly #deleting = new Map<string, { done: Promise<void>; finish: () => void }>();
  /** Messages handed to us by polls still open at stop(): released once they all end. */
  readonly #receivedWhileStopping: Message[] = [];
  #stopping: Promise<StopReport> | undefined;
  #pollFailing = false;
  #lastPollAt: Date | undefined;

  constructor(deps: SyncConsumerDeps, options: SyncConsumerOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#log = deps.log.child({ component: 'SyncConsumer' });
    this.#processDeps = {
      sqs: deps.sqs,
      sync: deps.sync,
      log: this.#log,
      poisonQueueUrl: options.poisonQueueUrl,
      retryKinds: new Set(options.retryPermanentKinds ?? WORKER_PERMANENT_KINDS),
      onResult: options.onResult,
      onFailure: options.onFailure,
    };
  }

  start(): void {
    if (this.#consumers.length > 0 || this.#stopping) return;
    const { visibilityTimeoutSeconds: visibility } = this.#options;
    // The heartbeat must fire before the message reappears; with 1 s there is no room for one.
    const heartbeat = this.#options.heartbeatIntervalSeconds ?? Math.max(1, Math.floor(visibility / 3));
    const heartbeatInterval = heartbeat >= 1 && heartbeat < visibility ? heartbeat : undefined;
    if (heartbeatInterval === undefined) {
      this.#log.warn(
        { visibility, heartbeat },
        'no heartbeat: a sync longer than the visibility timeout is redelivered',
      );
    }
    for (let i = 0; i < this.#options.concurrency; i++) {
      const consumer = Consumer.create({
        sqs: this.#deps.sqs,
        queueUrl: this.#deps.queueUrl,
        handleMessage: (message) => this.#handle(message),
        batchSize: 1,
        visibilityTimeout: visibility,
        heartbeatInterval,
        waitTimeSeconds: this.#options.waitTimeSeconds,
        suppressFifoWarning: true,
        messageSystemAttributeNames: ['ApproximateReceiveCount', 'MessageGroupId'],
      });
      this.#listen(consumer);
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
    return !this.#stopping && this.#consumers.some((c) => c.status.isRunning);
  }

  /** For /readyz: running, and the latest receive did not fail (unknown before the first answers). */
  get health(): { running: boolean; pollOk: boolean; lastPollAt: Date | undefined; inFlight: number } {
    return {
      running: this.isRunning,
      pollOk: !this.#pollFailing,
      lastPollAt: this.#lastPollAt,
      inFlight: this.#inFlight.size,
    };
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
    // sqs-consumer may emit 'stopped' inside stop(), so listen first.
    const stopped = this.#consumers.map((c) => once(c, 'stopped'));
    // No abort: aborting an open long poll can strand a message the server already handed
    // to it (invisible until its timeout); an open poll ends by itself within waitTimeSeconds.
    for (const consumer of this.#consumers) consumer.stop();
    await Promise.all(stopped);
    // Polls open at stop() end within waitTimeSeconds; any message they bring is released
    // when all have ended (no poller of ours can take it back), so another worker gets it
    // at once instead of after its visibility timeout. Bounded by the grace.
    const pollsEnded = this.#pollsEnded(Math.min(graceMs, (this.#options.waitTimeSeconds + 2) * 1000));

    await settledWithin(running, graceMs);

    const late = running.filter((r) => !r.settled);
    if (late.length > 0) {
      this.#log.warn({ graceMs, aborted: late.length }, 'syncs still running at the end of the grace: aborting them');
      for (const r of late) r.controller.abort(new Error('consumer stopped'));
      // A sync that ignores its signal must not hold shutdown forever; its message reappears anyway.
      await settledWithin(late, this.#options.abortWaitMs ?? 5_000);
    }
    // sqs-consumer deletes an acknowledged message after the handler returns: wait for
    // those deletes too, or closing the SQS client next could cut one off (a redelivery).
    await settledWithin([...this.#deleting.values()], this.#options.abortWaitMs ?? 5_000);
    if (await pollsEnded) {
      await releaseMessages({ ...this.#deps, log: this.#log }, this.#receivedWhileStopping.splice(0));
    }
    const report = { completed: running.length - late.length, aborted: late.length };
    this.#log.info(report, 'consumer stopped');
    return report;
  }

  async #handle(message: Message): Promise<Message | undefined> {
    if (this.#stopping) {
      // A long poll still open when stop() was called can hand us a message. Not synced;
      // released once every poll of this process has ended (see #stop).
      this.#log.debug({ messageId: message.MessageId }, 'message received while stopping: to be released');
      this.#receivedWhileStopping.push(message);
      return undefined;
    }
    const controller = new AbortController();
    const entry: InFlight = {
      controller,
      done: processMessage(this.#processDeps, message, controller.signal),
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

  /** Resolves true once no poller of this process has a receive open, false after `ms`. */
  async #pollsEnded(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.#consumers.every((c) => !c.status.isPolling)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
  }

  /** Tracks the delete sqs-consumer makes of an acknowledged message, until it ends either way. */
  #awaitDelete(messageId: string): void {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#deleting.set(messageId, { done: promise, finish: resolve });
  }

  #deleted(messageId: string | undefined): void {
    if (!messageId) return;
    this.#deleting.get(messageId)?.finish();
    this.#deleting.delete(messageId);
  }

  #listen(consumer: Consumer): void {
    consumer.on('message_processed', (message) => this.#deleted(message.MessageId));
    // sqs-consumer polls again at once after most failed receives (a refused connection
    // included): without a back-off an SQS outage is a busy loop of error lines.
    let backoffMs = 0;
    const pollOk = () => {
      if (backoffMs > 0) {
        backoffMs = 0;
        consumer.updateOption('pollingWaitTimeMs', 0);
      }
      this.#pollOk();
    };
    consumer.on('message_received', pollOk);
    consumer.on('empty', pollOk);
    consumer.on('error', (err, message) => {
      const messageId = Array.isArray(message) ? message.map((m) => m.MessageId) : message?.MessageId;
      if (!message) {
        // No message: the receive itself failed. sqs-consumer retries on its own.
        this.#pollFailing = true;
        backoffMs = Math.min(Math.max(backoffMs * 2, RECEIVE_BACKOFF.firstMs), RECEIVE_BACKOFF.maxMs);
        // Takes effect from the poll after next: sqs-consumer reads the wait as a poll starts.
        consumer.updateOption('pollingWaitTimeMs', backoffMs);
        this.#log.error({ err, pollingWaitMs: backoffMs }, 'SQS receive failed');
      } else if (err.message.startsWith('Error changing visibility timeout')) {
        // A heartbeat racing the handler's end (the message is already deleted); harmless.
        this.#log.debug({ err, messageId }, 'heartbeat lost a race with the end of a sync');
      } else {
        this.#log.error({ err, messageId }, 'SQS error on a message');
        if (typeof messageId === 'string') this.#deleted(messageId);
      }
    });
    // Handler failures are already logged by processMessage with their context; these are for tracing.
    consumer.on('processing_error', (err, message) =>
      this.#log.debug({ err, messageId: message.MessageId }, 'processing_error'),
    );
    consumer.on('timeout_error', (err, message) =>
      this.#log.error({ err, messageId: message.MessageId }, 'message handler timed out'),
    );
  }

  #pollOk(): void {
    this.#pollFailing = false;
    this.#lastPollAt = new Date();
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
