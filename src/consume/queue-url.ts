import { GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { fifoQueueName } from '../config.ts';

/** Error names SQS uses for a missing queue: the JSON protocol's, then the query protocol's. */
const NO_SUCH_QUEUE = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue']);

/**
 * The queue's URL: the configured URL when there is one, else the URL of the FIFO queue
 * named in the config (".fifo" appended when missing, as AWS requires for FIFO queues).
 * Fails at startup, with the name it looked for, when the queue does not exist.
 */
export async function resolveQueueUrl(sqs: SQSClient, queue: { name: string; url: string }): Promise<string> {
  // loadConfig has checked that a configured URL names a FIFO queue.
  if (queue.url) return queue.url;
  const name = fifoQueueName(queue.name);
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    if (!QueueUrl) throw new Error('GetQueueUrl returned no URL');
    return QueueUrl;
  } catch (err) {
    const code = (err as { name?: string; Code?: string }).Code ?? (err as Error).name;
    if (NO_SUCH_QUEUE.has(code) || NO_SUCH_QUEUE.has((err as Error).name)) {
      throw new Error(
        `SQS queue "${name}" does not exist: create it as a FIFO queue, or set PL_EVENT_GUEST_SYNC_QUEUE_URL`,
        { cause: err },
      );
    }
    throw new Error(`Could not look up the URL of SQS queue "${name}"`, { cause: err });
  }
}
