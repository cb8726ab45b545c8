import { type Message, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { PermanentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { excerpt } from './message.ts';

export interface MessageContext {
  messageId: string | undefined;
  receiveCount: number;
  groupId: string | undefined;
}

/**
 * Logs a message that can never succeed, with its reason and an excerpt of its body,
 * and first copies it whole to the poison queue when one is configured. Returns false
 * when the copy failed: the message must then stay on its queue rather than be lost.
 */
export async function dropPoison(
  deps: { sqs: SQSClient; log: Logger; poisonQueueUrl?: string },
  message: Message,
  err: PermanentError,
  context: MessageContext,
): Promise<boolean> {
  const { poisonQueueUrl } = deps;
  if (poisonQueueUrl) {
    const fifo = poisonQueueUrl.endsWith('.fifo');
    try {
      await deps.sqs.send(
        new SendMessageCommand({
          QueueUrl: poisonQueueUrl,
          MessageBody: message.Body || '(empty body)',
          MessageAttributes: {
            errorKind: { DataType: 'String', StringValue: err.kind },
            errorReason: { DataType: 'String', StringValue: err.message.slice(0, 1000) },
          },
          ...(fifo ? { MessageGroupId: context.groupId ?? 'poison', MessageDeduplicationId: message.MessageId } : {}),
        }),
      );
    } catch (copyErr) {
      deps.log.error(
        { ...context, kind: err.kind, reason: err.message, err: copyErr },
        'could not copy a failed message to the poison queue: left for redelivery',
      );
      return false;
    }
  }
  deps.log.error(
    { ...context, kind: err.kind, reason: err.message, body: excerpt(message.Body), poisonQueueUrl },
    'message can never succeed: dropped',
  );
  return true;
}
