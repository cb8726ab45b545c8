/**
 * A process that reads one event's guest list from Luma with the real provider and prints
 * what happened and its own peak RSS, for tests that measure memory without the test
 * runner's own heap in the figure:
 *   node test/support/luma-fetch-process.ts '<json: { apiUrl, apiKey, externalEventId, maxResponseBytes }>'
 * Prints one JSON line: { ok, kind?, message?, baselineRssMiB, peakRssMiB }.
 */
import { readFileSync } from 'node:fs';
import { errorKind } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import { lumaConfig } from '../providers/support.ts';

const args = JSON.parse(process.argv[2] ?? '{}') as {
  apiUrl: string;
  apiKey: string;
  externalEventId: string;
  maxResponseBytes: number;
};
/**
 * Peak RSS of this process in MiB: VmHWM, which starts afresh at exec. getrusage's maxRSS
 * does not: on Linux it starts from the RSS of the parent at fork, so a big test runner
 * would hide the child's own growth.
 */
function peakRssMiB(): number {
  const kib = Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
  return Math.round((kib / 1024) * 10) / 10;
}
const luma = createLumaProvider({
  config: lumaConfig({
    apiUrl: args.apiUrl,
    apiKey: args.apiKey,
    maxResponseBytes: args.maxResponseBytes,
    retries: 0,
    requestTimeoutMs: 60_000,
  }),
  limiter: { acquire: async () => () => {} },
  log: silentLogger,
});
// Everything is loaded and the provider built: growth from here is the fetch's.
const baselineRssMiB = peakRssMiB();
let outcome: Record<string, unknown>;
try {
  const summary = await luma.fetchGuestsInBatches(async () => {}, {
    eventUid: 'rss-event',
    externalEventId: args.externalEventId,
  });
  outcome = { ok: true, summary };
} catch (err) {
  outcome = { ok: false, kind: errorKind(err), message: (err as Error).message };
}
console.log(JSON.stringify({ ...outcome, baselineRssMiB, peakRssMiB: peakRssMiB() }));
