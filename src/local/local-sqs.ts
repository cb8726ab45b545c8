export interface LocalSqs {
  /** Endpoint for the AWS SDK, on 127.0.0.1. */
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts fauxqs, an SQS-compatible server speaking the SDK v3 JSON protocol, on a free loopback port. */
export async function startLocalSqs(): Promise<LocalSqs> {
  const { startFauxqs } = await import('fauxqs');
  const server = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
  return { endpoint: `http://127.0.0.1:${server.port}`, stop: () => server.stop() };
}
