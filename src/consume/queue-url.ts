import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { fifoQueueName } from '../config/config.ts';

/** Error names SQS uses for a missing queue: the JSON protocol's, then the query protocol's. */
const NO_SUCH_QUEUE = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue']);
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'KMS.AccessDeniedException']);

/**
 * The queue's URL: the configured URL when there is one, checked to name a queue, else the
 * URL of the FIFO queue named in the config (".fifo" appended when missing, as AWS requires
 * for FIFO queues). Fails, saying what to do, when the queue does not exist: a worker that
 * started on a missing queue would claim to be ready and then fail every poll.
 */
export async function resolveQueueUrl(sqs: SQSClient, queue: { name: string; url: string }): Promise<string> {
  // loadConfig has checked that a configured URL names a FIFO queue.
  if (queue.url) {
    try {
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['QueueArn'] }));
      return queue.url;
    } catch (err) {
      throw new Error(queueProblem(err, queue.url), { cause: err });
    }
  }
  const name = fifoQueueName(queue.name);
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    if (!QueueUrl) throw new Error('GetQueueUrl returned no URL');
    return QueueUrl;
  } catch (err) {
    if (NO_SUCH_QUEUE.has(sqsErrorCode(err))) {
      throw new Error(
        `SQS queue "${name}" does not exist: create it as a FIFO queue, or set PL_EVENT_GUEST_SYNC_QUEUE_URL`,
        { cause: err },
      );
    }
    throw new Error(`Could not look up the URL of SQS queue "${name}" (${sqsErrorCode(err) || 'error'})`, {
      cause: err,
    });
  }
}

/**
 * One short sentence about an SQS failure on `queueUrl`, with what to do: for logs and
 * /readyz. The SDK's own error (its response, its metadata, the message text twice once
 * sqs-consumer has wrapped it) runs to kilobytes and says neither.
 */
export function queueProblem(err: unknown, queueUrl: string): string {
  const code = sqsErrorCode(err);
  if (NO_SUCH_QUEUE.has(code)) {
    return `SQS queue ${queueUrl} does not exist: create it as a FIFO queue, or correct PL_EVENT_GUEST_SYNC_QUEUE_URL`;
  }
  if (ACCESS_DENIED.has(code)) {
    return `SQS denied access to ${queueUrl} (${code}): allow the worker's role sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility, sqs:SendMessage and sqs:GetQueueAttributes on it`;
  }
  if (/^E[A-Z]+$/.test(code)) {
    return `SQS cannot be reached for ${queueUrl} (${code}): check the network, and AWS_ENDPOINT_URL_SQS if set`;
  }
  return `SQS request to ${queueUrl} failed (${code || 'error'})`;
}

/** The SDK's error name, or the original name when sqs-consumer has wrapped it. */
function sqsErrorCode(err: unknown): string {
  type Named = { name?: string; code?: string; Code?: string; cause?: Named };
  const outer = err as Named | undefined;
  const e = outer?.name === 'SQSError' && outer.cause ? outer.cause : outer;
  return e?.Code ?? (e?.name && e.name !== 'Error' ? e.name : undefined) ?? e?.code ?? '';
}
