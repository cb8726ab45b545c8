import { createHash } from 'node:crypto';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SyncMessage } from '../sync/types.ts';

/** SQS accepts at most 10 entries per SendMessageBatch. */
const BATCH_SIZE = 10;

/** One message to send, with the deduplication id its producer derived. */
export interface OutgoingSync {
  message: SyncMessage;
  deduplicationId: string;
}

/**
 * A deduplication id from its parts (the event, the trigger, a slot or window): equal
 * parts on any replica give the same id, so SQS keeps one message. Hashed to stay within
 * SQS's characters and 128-character limit whatever the uid holds.
 */
export function keyedDeduplicationId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

/**
 * Sends messages ten per SendMessageBatch, grouped by event (FIFO: one sync of an event
 * at a time). Returns the uids SQS accepted and how many entries it refused; refused
 * entries are not retried here, because the tiered tick and the webhook receiver both
 * come back to what they could not send (the next tick, Luma's redelivery).
 */
export async function sendSyncMessages(
  deps: { sqs: SQSClient; queueUrl: string },
  outgoing: readonly OutgoingSync[],
  options: { signal?: AbortSignal } = {},
): Promise<{ sent: string[]; failed: number }> {
  const sent: string[] = [];
  let failed = 0;
  for (let start = 0; start < outgoing.length; start += BATCH_SIZE) {
    options.signal?.throwIfAborted();
    const batch = outgoing.slice(start, start + BATCH_SIZE);
    const output = await deps.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: deps.queueUrl,
        Entries: batch.map((item, i) => ({
          Id: `m${i}`,
          MessageBody: JSON.stringify(item.message),
          MessageGroupId: item.message.eventUid,
          MessageDeduplicationId: item.deduplicationId,
        })),
      }),
      { abortSignal: options.signal },
    );
    for (const ok of output.Successful ?? []) sent.push(batch[Number(ok.Id!.slice(1))]!.message.eventUid);
    failed += output.Failed?.length ?? 0;
  }
  return { sent, failed };
}
