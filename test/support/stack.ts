import { after } from 'node:test';
import { maxClaimLeaseSeconds } from '../../src/config/claim-timing.ts';
import { type LumaSimulatorOptions, SIM_API_KEY, type SimGuestList } from '../../src/local/luma-simulator.ts';
import { startLumaSimulator } from '../../src/local/luma-simulator-http.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { testEnv } from './env.ts';
import { createFifoQueue, createTestSqs } from './sqs-queue.ts';

/**
 * Everything a real worker process needs, for one test file: its own database, its own
 * FIFO queue (with a FIFO DLQ) on the test SQS server, and a simulated Luma served over
 * real HTTP. `env` is the worker's environment for them.
 */
export async function startStack(options: {
  label: string;
  luma?: Omit<LumaSimulatorOptions, 'apiKey'>;
  maxReceiveCount?: number;
  visibilityTimeout?: number;
}) {
  const database: TestDatabase = await createTestDatabase({ label: options.label });
  const sqs = createTestSqs();
  const queue = await createFifoQueue(sqs, {
    label: options.label,
    maxReceiveCount: options.maxReceiveCount ?? 3,
    visibilityTimeout: options.visibilityTimeout ?? 5,
  });
  // The simulator reads this record on every request: tests add guest lists to it as they go.
  const lumaEvents: Record<string, SimGuestList> = { ...options.luma?.events };
  const luma = await startLumaSimulator({ ...options.luma, events: lumaEvents, apiKey: SIM_API_KEY });
  after(() => luma.stop());
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    AWS_ENDPOINT_URL_SQS: testEnv('sqsEndpoint'),
    PL_EVENT_GUEST_SYNC_QUEUE_URL: queue.url,
    PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true',
    PL_EVENT_GUEST_SYNC_WAIT_TIME_SECONDS: '1',
    PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS: String(options.visibilityTimeout ?? 5),
    LUMA_API_URL: luma.url,
    LUMA_API_KEY: SIM_API_KEY,
    SHUTDOWN_GRACE_MS: '5000',
    // The longest lease the visibility timeout allows (src/config/claim-timing.ts): a killed
    // worker's claim is free when its message reappears, as in production.
    SYNC_CLAIM_LEASE_SECONDS: String(maxClaimLeaseSeconds(options.visibilityTimeout ?? 5)),
  };
  return { database, sqs, queue, luma, lumaEvents, env };
}
