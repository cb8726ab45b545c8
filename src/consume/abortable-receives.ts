import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * The SQS client handed to sqs-consumer, with one difference: `abort()` ends every open
 * ReceiveMessage call at once. sqs-consumer's own `stop({ abort: true })` aborts every
 * call it makes with one signal — deletes of syncs that finish during the grace included,
 * which would turn a completed sync into a redelivery — and without an abort an idle
 * worker waits out its open long poll (up to 20 s) before it can exit.
 *
 * What an abort costs: a message the server handed to the aborted call at that instant
 * never reaches the worker, so it stays hidden until its visibility timeout and then
 * comes back (a local server may even hand it to the abandoned call later, within the
 * call's wait time). A message that did reach the worker is made visible again at once
 * (see SyncConsumer). Nothing is lost either way; at worst one message waits out its timeout.
 */
export function withAbortableReceives(sqs: SQSClient): { client: SQSClient; abort(reason: Error): void } {
  const controller = new AbortController();
  const send = (command: unknown, options?: { abortSignal?: unknown }) => {
    if (!(command instanceof ReceiveMessageCommand))
      return (sqs.send as (...args: unknown[]) => unknown)(command, options);
    const signals = [controller.signal];
    if (options?.abortSignal instanceof AbortSignal) signals.push(options.abortSignal);
    return sqs.send(command, { ...options, abortSignal: AbortSignal.any(signals) });
  };
  const client = new Proxy(sqs, {
    get: (target, property) => (property === 'send' ? send : Reflect.get(target, property)),
  });
  return { client, abort: (reason) => controller.abort(reason) };
}
