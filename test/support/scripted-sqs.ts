/**
 * A scripted SQS client for the consumer's tests: sqs-consumer's pollers run against it
 * as against SQS, but each receive, delete and visibility change is answered when the
 * test says, so a test can hold one in flight. No server is needed.
 */
import type { Message, SQSClient } from '@aws-sdk/client-sqs';

export interface Call {
  name: string;
  input: Record<string, unknown>;
  /** Visibility changes still unanswered when this call arrived. */
  pendingVisibilityChanges: number;
}

/**
 * An SQS client answering what sqs-consumer and the consumer send. A receive waits for
 * `deliver()` (or its abort, which it reports); deletes and visibility changes answer at
 * once unless the test hooks them.
 */
export class ScriptedSqs {
  readonly calls: Call[] = [];
  abortedReceives = 0;
  openReceives = 0;
  /** Receives answer deliveries even after their abort (a server that already sent its answer). */
  answerAfterAbort = false;
  /** Every receive fails, as when the server cannot be reached. */
  failReceives = false;
  onDelete: (input: Record<string, unknown>) => Promise<unknown> | unknown = () => ({});
  onChangeVisibility: (input: Record<string, unknown>) => Promise<unknown> | unknown = () => ({});
  readonly #queued: Message[] = [];
  readonly #waiting: Array<(message: Message) => void> = [];
  #pendingVisibilityChanges = 0;

  readonly client = {
    send: (command: { constructor: { name: string }; input: Record<string, unknown> }, options?: unknown) =>
      this.#send(command, options as { abortSignal?: AbortSignal } | undefined),
  } as unknown as SQSClient;

  deliver(message: Message): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(message);
    else this.#queued.push(message);
  }

  named(name: string): Call[] {
    return this.calls.filter((c) => c.name === name);
  }

  /** The visibility changes sent, as the seconds asked for. */
  visibilityChanges(): number[] {
    return this.named('ChangeMessageVisibilityCommand').map((c) => Number(c.input.VisibilityTimeout));
  }

  async #send(
    command: { constructor: { name: string }; input: Record<string, unknown> },
    options?: { abortSignal?: AbortSignal },
  ) {
    const name = command.constructor.name;
    this.calls.push({ name, input: command.input, pendingVisibilityChanges: this.#pendingVisibilityChanges });
    if (name === 'ReceiveMessageCommand') {
      if (this.failReceives) throw Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' });
      const asked = new Set((command.input.MessageSystemAttributeNames as string[] | undefined) ?? []);
      const answer = await this.#receive(options?.abortSignal);
      // As SQS does: only the system attributes the receive asked for.
      const attributes = Object.entries(answer.Messages[0]?.Attributes ?? {}).filter(([key]) => asked.has(key));
      return { Messages: answer.Messages.map((m) => ({ ...m, Attributes: Object.fromEntries(attributes) })) };
    }
    if (name === 'DeleteMessageCommand') return this.onDelete(command.input);
    if (name === 'ChangeMessageVisibilityCommand') {
      this.#pendingVisibilityChanges++;
      try {
        return await this.onChangeVisibility(command.input);
      } finally {
        this.#pendingVisibilityChanges--;
      }
    }
    throw new Error(`scripted SQS: unexpected ${name}`);
  }

  #receive(signal: AbortSignal | undefined): Promise<{ Messages: Message[] }> {
    const queued = this.#queued.shift();
    if (queued) return Promise.resolve({ Messages: [queued] });
    this.openReceives++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.abortedReceives++;
        if (this.answerAfterAbort) return;
        this.openReceives--;
        this.#waiting.splice(this.#waiting.indexOf(answer), 1);
        reject(signal?.reason);
      };
      const answer = (message: Message) => {
        signal?.removeEventListener('abort', onAbort);
        this.openReceives--;
        resolve({ Messages: [message] });
      };
      this.#waiting.push(answer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

let nextId = 0;
/** A received message; `withoutId` leaves out the MessageId, which SQS always sets. */
export function messageFor(eventUid: string, options: { withoutId?: boolean } = {}): Message {
  return {
    ...(options.withoutId ? {} : { MessageId: `m-${++nextId}` }),
    ReceiptHandle: `r-${++nextId}`,
    Body: JSON.stringify({ eventUid, externalEventId: `evt-${eventUid}`, locationUid: 'loc-1', providerType: 'LUMA' }),
    Attributes: { ApproximateReceiveCount: '3', MessageGroupId: eventUid, SenderId: 'AIDA-SENDER' },
  };
}
