import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SyncMessage, SyncResult } from '../../src/sync/types.ts';

/** What a sync of `m` answers when it read one page and changed nothing: a success whose figures are not under test. */
export function unchangedResult(m: Pick<SyncMessage, 'eventUid' | 'providerType'>): SyncResult {
  return {
    eventUid: m.eventUid,
    providerType: m.providerType,
    pages: 1,
    fetched: 0,
    matched: 0,
    created: 0,
    skipped: 0,
    removed: 0,
    dryRun: false,
    durationMs: 1,
  };
}

/** An SQS client recording each command it is sent (name, receipt, visibility); `failing` makes each one fail. */
export function sqsRecording(options: { failing?: boolean } = {}) {
  const calls: string[] = [];
  const sqs = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      calls.push(`${command.constructor.name} ${command.input.ReceiptHandle} ${command.input.VisibilityTimeout}`);
      if (options.failing) throw new Error('sqs unreachable');
      return {};
    },
  } as unknown as SQSClient;
  return { sqs, calls };
}
