import type { Logger } from '../log.ts';
import { queueProblem } from './queue-url.ts';

export interface ReceiveHealth {
  /** The latest receive did not fail (true before the first answers). */
  readonly ok: boolean;
  readonly lastOkAt: Date | undefined;
  /** One receive's outcome; a failed one with its error. */
  record(ok: boolean, err?: unknown): void;
}

/**
 * The receives' health for /readyz, and their log lines. Every poller fails every poll
 * while the queue is gone: the first failure is logged, short and saying what to do; the
 * same failure again only at debug; the recovery once, with the count.
 */
export function createReceiveHealth(log: Logger, queueUrl: string): ReceiveHealth {
  let failing = false;
  let lastOkAt: Date | undefined;
  let problem: string | undefined;
  let failures = 0;
  return {
    get ok() {
      return !failing;
    },
    get lastOkAt() {
      return lastOkAt;
    },
    record(ok, err) {
      failing = !ok;
      if (ok) {
        lastOkAt = new Date();
        if (failures > 0) log.info({ failures, queueUrl }, 'SQS receive recovered');
        failures = 0;
        problem = undefined;
        return;
      }
      failures++;
      const reason = queueProblem(err, queueUrl);
      if (reason === problem) {
        log.debug({ reason, failures }, 'SQS receive failed again');
        return;
      }
      problem = reason;
      log.error({ reason, queueUrl }, 'SQS receive failed');
    },
  };
}
