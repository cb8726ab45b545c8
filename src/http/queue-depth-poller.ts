import {
  GetQueueAttributesCommand,
  type GetQueueAttributesCommandOutput,
  GetQueueUrlCommand,
  type GetQueueUrlCommandOutput,
} from '@aws-sdk/client-sqs';
import type { Logger } from '../log.ts';
import type { Metrics } from './metrics.ts';

/** The SQS calls the poller makes; an SQSClient fits, and so does a test's object literal. */
export interface QueueAttributesClient {
  send(
    command: GetQueueAttributesCommand | GetQueueUrlCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<Pick<GetQueueAttributesCommandOutput, 'Attributes'> & Pick<GetQueueUrlCommandOutput, 'QueueUrl'>>;
}

export interface QueueDepthPollerOptions {
  sqs: QueueAttributesClient;
  queueUrl: string;
  metrics: Pick<Metrics, 'setQueueDepth' | 'setDeadLetterDepth'>;
  intervalMs: number;
  log: Pick<Logger, 'warn' | 'debug' | 'info'>;
}

/**
 * Reads the queue's approximate depth now and then every `intervalMs` into
 * lgs_sqs_queue_depth, and the depth of the dead-letter queue its redrive policy names
 * (looked up once, by the ARN's name and account) into lgs_sqs_dlq_depth. Polls never overlap (the next is scheduled when one ends) and
 * the timer is unref'd, so the poller never holds the process open. `stop()` aborts a
 * poll in progress and resolves once it has settled.
 */
export function startQueueDepthPoller(options: QueueDepthPollerOptions): { stop(): Promise<void> } {
  const { sqs, queueUrl, metrics, intervalMs, log } = options;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let inFlight: Promise<void> | undefined;
  let controller: AbortController | undefined;
  let failing = false;
  let deadLetterUrl: string | undefined;

  async function poll(): Promise<void> {
    controller = new AbortController();
    const abortSignal = controller.signal;
    try {
      const { Attributes: attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'RedrivePolicy'],
        }),
        { abortSignal },
      );
      metrics.setQueueDepth(
        Number(attributes.ApproximateNumberOfMessages ?? 0),
        Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      );
      const target = deadLetterTarget(attributes.RedrivePolicy);
      if (target && !deadLetterUrl) {
        ({ QueueUrl: deadLetterUrl } = await sqs.send(new GetQueueUrlCommand(target), { abortSignal }));
      }
      if (deadLetterUrl) {
        const { Attributes: dlq = {} } = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: deadLetterUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
          { abortSignal },
        );
        metrics.setDeadLetterDepth(Number(dlq.ApproximateNumberOfMessages ?? 0));
      }
      if (failing) log.info({ queueUrl }, 'queue depth poll recovered');
      failing = false;
    } catch (err) {
      if (stopped) return;
      // Warn once per outage, not once per interval.
      if (failing) log.debug({ err, queueUrl }, 'queue depth poll failed');
      else log.warn({ err, queueUrl }, 'queue depth poll failed');
      failing = true;
    }
  }

  function tick(): void {
    inFlight = poll().finally(() => {
      inFlight = undefined;
      if (!stopped) timer = setTimeout(tick, intervalMs).unref();
    });
  }

  tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      controller?.abort();
      await inFlight;
    },
  };
}

/** The dead-letter queue's name and account from a redrive policy (`arn:aws:sqs:region:account:name`). */
function deadLetterTarget(
  policy: string | undefined,
): { QueueName: string; QueueOwnerAWSAccountId: string } | undefined {
  if (!policy) return undefined;
  try {
    const arn = String((JSON.parse(policy) as { deadLetterTargetArn?: unknown }).deadLetterTargetArn ?? '');
    const [, , , , account, name] = arn.split(':');
    return account && name ? { QueueName: name, QueueOwnerAWSAccountId: account } : undefined;
  } catch {
    return undefined;
  }
}
