/**
 * Scenarios 11 and 12 (issue 19): what the per-event claim costs and saves.
 *
 * 11. A sync interrupted mid-list (a shutdown, as a rolling deploy sends) and then
 *     resumed: the Luma requests the second attempt spends again. Without the checkpoint
 *     it would read every page before the interruption again; the target is one page.
 * 12. A sync far longer than its lease and than the pool's idle timeout, against a slow
 *     Luma: it must complete, spending one request per page. Scaled down in time so the
 *     bench stays short (seconds, not the minutes of production): a 3 s lease and a 1 s
 *     idle timeout against pages of 1.2 s, so the sync lasts several leases and every
 *     connection it used has been closed for idleness between two pages.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase } from '../../src/db/client.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { type Figure, figure, time } from './harness.ts';
import { benchEvent, benchSyncDeps, startSimulatedLuma } from './sync-env.ts';
import type { SyncBenchOptions } from './sync-scenarios.ts';

export async function interruptedAndResumed({ db, runs, quick }: SyncBenchOptions): Promise<Figure[]> {
  const pages = quick ? 20 : 40;
  const stopAfter = pages / 2;
  const latencyMs = 20;
  const eventId = 'evt-resume';
  const luma = await startSimulatedLuma({ events: { [eventId]: { guestCount: pages * 100 } }, latencyMs });
  const respent: number[] = [];
  const resumedAt: number[] = [];
  try {
    for (let i = 0; i < Math.min(runs, 3); i++) {
      const deps = benchSyncDeps(db.db, luma.url);
      const message = await benchEvent(db.sql, eventId);
      const before = (await luma.stats()).requests;
      const stop = new AbortController();
      // The shutdown arrives once half the list is written, wherever in a page that falls.
      let ended = false;
      const watcher = (async () => {
        while (!ended) {
          const [row] = await db.sql<{ pages: number }[]>`
            SELECT pages_done AS pages FROM luma_guest_sync.event_claim WHERE event_uid = ${message.eventUid}`;
          if ((row?.pages ?? 0) >= stopAfter) return stop.abort(new Error('shutdown'));
          await sleep(5);
        }
      })();
      await syncEvent(deps, message, { signal: stop.signal }).catch(() => {});
      ended = true;
      await watcher;
      const result = await syncEvent(deps, message);
      const spent = (await luma.stats()).requests - before;
      respent.push(spent - pages);
      resumedAt.push(result.resumedAtPage ?? 1);
    }
  } finally {
    await luma.stop();
  }
  const name = `11. Interrupted at page ~${stopAfter} of ${pages}, then resumed`;
  return [
    figure(name, 'Luma requests spent again by the resumed attempt', 'requests', respent, {
      text: '<= 1',
      ok: (m) => m <= 1,
    }),
    figure(name, 'page the second attempt started at (1 = no resume)', 'page', resumedAt, {
      text: `> ${stopAfter}`,
      ok: (m) => m > stopAfter,
    }),
  ];
}

export async function slowLumaLongSync({ db, quick }: SyncBenchOptions): Promise<Figure[]> {
  const pages = quick ? 8 : 15;
  const latencyMs = 1_200;
  const eventId = 'evt-slow';
  const luma = await startSimulatedLuma({ events: { [eventId]: { guestCount: pages * 100 } }, latencyMs });
  // Connections idle for 1 s close, as a pool's idle timeout or a pooler would close them.
  const pool = createDatabase({ url: db.url, poolMax: 4, idleTimeoutSeconds: 1 });
  const leaseSeconds = 3;
  try {
    const deps = { ...benchSyncDeps(pool.db, luma.url), claim: { leaseSeconds } };
    const message = await benchEvent(db.sql, eventId);
    const before = (await luma.stats()).requests;
    const { ms, value } = await time(() => syncEvent(deps, message));
    const spent = (await luma.stats()).requests - before;
    const name = `12. Slow Luma (${latencyMs} ms a page, ${pages} pages), ${leaseSeconds} s lease, 1 s idle timeout`;
    return [
      figure(name, 'sync duration / lease', 'ratio', [ms / 1000 / leaseSeconds], {
        text: 'reported (> 1: outlasts its lease)',
        ok: () => true,
      }),
      figure(name, 'pages completed', 'pages', [value.pages], { text: `= ${pages}`, ok: (m) => m === pages }),
      figure(name, 'Luma requests spent / pages', 'ratio', [spent / pages], { text: '= 1', ok: (m) => m === 1 }),
    ];
  } finally {
    await pool.close();
    await luma.stop();
  }
}
