/**
 * Luma over real sockets misbehaving at the transport level (issue 11, items 1 and 3): a
 * hung answer and resets are retried in place; a body over LUMA_MAX_RESPONSE_BYTES is cut
 * while streaming, and the peak RSS of a process reading a 400 MiB body stays bounded.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/config/config.ts';
import { errorKind, isPermanent } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaProvider } from '../../src/providers/luma.ts';
import { type LumaFault, type LumaScript, startFaultyLuma } from '../support/faults.ts';
import { API_KEY, collectBatches, countingBudget, lumaConfig, rejectionOf } from './support.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MiB = 1024 * 1024;
const luma = await startFaultyLuma({
  apiKey: API_KEY,
  events: {
    'evt-faults': Array.from({ length: 7 }, (_, i) => ({ id: `gst-${i}`, email: `g${i}@x.io` })),
    'evt-huge': [],
  },
});
const on =
  (faults: Record<string, LumaFault>): LumaScript =>
  (r) =>
    faults[`${r.page}/${r.attempt}`];

function provider(overrides: Partial<Config['luma']> = {}) {
  const retried: string[] = [];
  const budget = countingBudget();
  const provider = createLumaProvider({
    config: lumaConfig({ apiUrl: luma.url, pageSize: 2, retries: 3, retryBaseMs: 1, retryMaxMs: 5, ...overrides }),
    limiter: budget,
    log: silentLogger,
    onRetry: (kind) => retried.push(kind),
  });
  return { provider, retried, budget };
}

describe('Luma transport faults over real HTTP', () => {
  it('retries a hung answer past the timeout, a reset before the answer and one mid-body, and completes', async () => {
    luma.script(
      'evt-faults',
      on({
        '1/1': { kind: 'reset' },
        '2/1': { kind: 'hang' },
        '3/1': { kind: 'reset-mid-body' },
        '3/2': { kind: 'reset' },
      }),
    );
    const p = provider({ requestTimeoutMs: 300 });
    const { batches, onBatch } = collectBatches();
    const summary = await p.provider.fetchGuestsInBatches(onBatch, {
      eventUid: 'uid-faults',
      externalEventId: 'evt-faults',
    });
    assert.deepEqual(summary, { pages: 4, fetched: 7, skipped: 0, unidentified: 0 });
    assert.deepEqual(
      batches.map((b) => b.page),
      [1, 2, 3, 4],
    );
    assert.deepEqual(p.retried.sort(), ['luma_timeout', 'luma_unavailable', 'luma_unavailable', 'luma_unavailable']);
    assert.equal(p.budget.acquired, 8);
  });

  for (const declareLength of [false, true]) {
    it(`cuts a body over the cap while streaming (${declareLength ? 'declared' : 'chunked'}), naming its size and the cap`, async () => {
      const serverStopped = Promise.withResolvers<void>();
      const sent = { bytes: 0, ended: serverStopped.resolve };
      luma.script('evt-huge', () => ({ kind: 'huge', bytes: 200 * MiB, declareLength, sent }));
      const p = provider({ maxResponseBytes: 2 * MiB });
      const err = await rejectionOf(
        p.provider.fetchGuestsInBatches(collectBatches().onBatch, {
          eventUid: 'uid-huge',
          externalEventId: 'evt-huge',
        }),
      );
      assert.equal(errorKind(err), 'luma_response_too_large');
      assert.equal(isPermanent(err), false, 'left for SQS to redeliver');
      const size = declareLength ? `${200 * MiB} bytes` : 'at least \\d+ bytes';
      assert.match(err.message, new RegExp(`\\(${size}, over the cap of ${2 * MiB}\\) for event uid-huge, page 1$`));
      assert.equal(p.budget.acquired, 1, 'not retried in the process');
      // The server stopped writing (it would go on to 200 MiB were the socket left open),
      // and the socket closed long before the body's end.
      await serverStopped.promise;
      console.log(`# luma-bounded cut ${JSON.stringify({ declareLength, sentMiB: sent.bytes / MiB })}`);
      assert.ok(sent.bytes < 40 * MiB, `${Math.round(sent.bytes / MiB)} MiB sent of 200`);
    });
  }

  it('keeps the peak RSS of a process reading a 400 MiB body near its baseline with a 4 MiB cap', async () => {
    luma.script('evt-huge', () => ({ kind: 'huge', bytes: 400 * MiB }));
    const args = JSON.stringify({
      apiUrl: luma.url,
      apiKey: API_KEY,
      externalEventId: 'evt-huge',
      maxResponseBytes: 4 * MiB,
    });
    const child = spawn(process.execPath, ['test/support/luma-fetch-process.ts', args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0, out);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    console.log(`# luma-bounded rss ${JSON.stringify(result)}`);
    assert.equal(result.kind, 'luma_response_too_large');
    const growth = Number(result.peakRssMiB) - Number(result.baselineRssMiB);
    // Reading the whole body would take at least 400 MiB more; the cap holds it to a few.
    assert.ok(growth < 100, `peak RSS grew by ${growth} MiB`);
  });
});
