import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import postgres from 'postgres';
import { loadConfig } from '../../src/config/config.ts';
import { WORKER_PERMANENT_KINDS } from '../../src/consume/consumer.ts';
import { type FailureInfo, processMessage } from '../../src/consume/process-message.ts';
import type { Database, Sql } from '../../src/db/client.ts';
import { SIM_API_KEY } from '../../src/local/luma-simulator.ts';
import { createRecordedSync } from '../../src/recorded-sync.ts';
import type { SyncDeps } from '../../src/sync/sync-event.ts';
import type { SyncMessage } from '../../src/sync/types.ts';
import { createProviders, createSyncDeps } from '../../src/wiring.ts';
import { captureLogger, type LogLine } from './sqs-queue.ts';

/** What became of one SQS message handled as the daemon handles it. */
export interface Consumed {
  /** Resolved with the message: sqs-consumer deletes it. */
  acknowledged: boolean;
  error: unknown;
  /** Visibility changes sent for it (a message given back early), in seconds. */
  visibility: number[];
  failures: FailureInfo[];
  lines: LogLine[];
}

/**
 * One message through processMessage and the daemon's recorded sync (history, metrics
 * stubbed), as the worker's role, with the settings the daemon's config gives: pages of
 * `pageSize`, stale removal on, the shared Luma budget. SQS is a stub that records the
 * visibility changes: what happens to the message is processMessage's to decide.
 */
export async function consumeAs(
  worker: Database,
  url: string,
  message: SyncMessage,
  options: { pageSize?: number; receiveCount?: number; budget?: 'shared' | 'process'; extra?: Partial<SyncDeps> } = {},
): Promise<Consumed> {
  const { log, lines } = captureLogger('info');
  const config = loadConfig({
    DATABASE_URL: url,
    LUMA_API_KEY: SIM_API_KEY,
    LUMA_PAGE_SIZE: String(options.pageSize ?? 2),
    LUMA_RATE_LIMIT_SCOPE: options.budget ?? 'shared',
    PL_EVENT_GUEST_SYNC_REMOVE_STALE: 'true',
    PL_EVENT_GUEST_SYNC_REMOVE_STALE_MAX_SHARE: '1',
  });
  const deps = { ...createSyncDeps(config, worker, createProviders(config, worker, log), log), ...options.extra };
  const noop = () => {};
  const sync = createRecordedSync({
    sync: deps,
    history: { sql: worker.sql, retentionDays: 30, log },
    metrics: { recordSyncTrigger: noop, recordSyncRefusal: noop, recordSyncFailure: noop },
    counted: new WeakSet(),
  });
  const visibility: number[] = [];
  const failures: FailureInfo[] = [];
  const sqs = {
    send: async (command: unknown) => {
      if (command instanceof ChangeMessageVisibilityCommand) visibility.push(command.input.VisibilityTimeout ?? -1);
      return {};
    },
  } as unknown as SQSClient;
  const received: Message = {
    MessageId: `m-${message.eventUid}`,
    ReceiptHandle: `r-${message.eventUid}`,
    Body: JSON.stringify(message),
    Attributes: { ApproximateReceiveCount: String(options.receiveCount ?? 1) },
  };
  let acknowledged = false;
  let error: unknown;
  try {
    const handled = await processMessage(
      {
        sqs,
        queueUrl: 'http://sqs.test/000000000000/sync.fifo',
        sync,
        log,
        retryKinds: new Set(WORKER_PERMANENT_KINDS),
        onFailure: (_err, info) => failures.push(info),
      },
      received,
      new AbortController().signal,
    );
    acknowledged = handled !== undefined;
  } catch (err) {
    error = err;
  }
  return { acknowledged, error, visibility, failures, lines };
}

/**
 * A transaction of another session (the directory app, a DBA, another worker) holding
 * the row locks `statements` take, until `release()`. Plain BEGIN on a reserved connection
 * (see session-settings.test.ts for why not sql.begin).
 */
export async function holdLocks(url: string, statements: string[]) {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  const connection = await client.reserve();
  await connection`BEGIN`;
  for (const statement of statements) await connection.unsafe(statement);
  return {
    async release(commit = false) {
      await connection.unsafe(commit ? 'COMMIT' : 'ROLLBACK');
      connection.release();
      await client.end();
    },
  };
}

/** Resolves once a session of `role` waits on a lock (the worker has met the held one). */
export async function blockedSession(admin: Sql, role: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = await admin`
      SELECT 1 FROM pg_stat_activity WHERE usename = ${role} AND wait_event_type = 'Lock'`;
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no session of ${role} waited on a lock within ${timeoutMs} ms`);
}
