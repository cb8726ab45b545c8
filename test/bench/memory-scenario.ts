import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Database } from '../../src/db/client.ts';
import { type Figure, figure } from './harness.ts';
import { imageSettings } from './image-settings.ts';
import { benchEvent, startSimulatedLuma } from './sync-env.ts';
import type { SyncBenchOptions } from './sync-scenarios.ts';

const run = promisify(execFile);
const MiB = 2 ** 20;
const reported = { text: 'reported', ok: () => true };

/**
 * The V8 old generation Node sizes in the image under the memory limit the docs recommend:
 * under any limit from 256 to 512 MiB, Node gives V8 a 262 MiB heap (docs/memory.md), 256
 * of it old generation. The bench runs outside a container, where the same Node sizes the
 * heap from the host (4 GiB on 24 GiB), so the child is given the container's figure.
 */
const CONTAINER_OLD_SPACE_MIB = 256;

/**
 * How a measured child runs. `image`: as the worker runs in its image under the
 * recommended limit, the image's NODE_OPTIONS and the container's heap. `defaults`: Node's
 * own settings on this host, as a worker started outside a container (or with a
 * NODE_OPTIONS of its own) runs. The heap's size matters to RSS because V8 lets the old
 * generation grow to a multiple of what it kept at its last full GC before collecting
 * again, and that multiple is larger the larger the heap may grow: ~2x at 262 MiB, 4x at
 * 4 GiB (--trace-gc, 2026-12-06: 11-13 MiB of RSS growth against 25-40).
 */
function childFlags(settings: 'image' | 'defaults'): string[] {
  if (settings === 'defaults') return [];
  const nodeOptions = imageSettings().env.NODE_OPTIONS ?? '';
  return [...nodeOptions.split(/\s+/).filter(Boolean), `--max-old-space-size=${CONTAINER_OLD_SPACE_MIB}`];
}

interface ChildResult {
  growthBytes: number;
  samples: number;
  fetched: number;
  created: number;
  removed: number;
}

/**
 * Scenario 5: memory stays flat as the list grows. Every measurement is one sync in a
 * fresh process (memory-child.ts), measured as growth over a baseline taken after a
 * warm-up sync in that process, so start-up cannot hide or inflate it:
 * - RSS sampled every 5 ms during the sync: the 100k sync's growth minus the 1k sync's;
 * - the heap after a full GC, sampled during the sync: nothing may grow with the list,
 *   with stale removal on or off (the list removal needs is kept in the database, page by
 *   page); with removal on, the figure is per guest, as it was when the process kept it.
 * Both with stale removal on (its kept set grows with the list, and it removes rows) and off;
 * as the image runs under the recommended limit (childFlags), with Node's defaults on this
 * host reported beside for the RSS.
 */
export async function memory({ db, runs, quick }: SyncBenchOptions): Promise<Figure[]> {
  const large = quick ? 20_000 : 100_000;
  const small = 1_000;
  const luma = await startSimulatedLuma({
    events: {
      'evt-mem-warmup': { guestCount: small },
      'evt-mem-small': { guestCount: small },
      'evt-mem-large': { guestCount: large },
    },
  });
  // The Dockerfile is read once, not for each of the scenario's children.
  const flags = { image: childFlags('image'), defaults: childFlags('defaults') };
  const rss: Record<string, number[]> = { plain: [], stale: [], defaults: [] };
  const heap: Record<string, number[]> = { plain: [], stale: [] };
  try {
    const measure = async (
      mode: 'rss' | 'heap',
      guests: number,
      removeStale: boolean,
      settings: 'image' | 'defaults' = 'image',
    ) => {
      const warmup = await benchEvent(db.sql, 'evt-mem-warmup');
      const message = await benchEvent(db.sql, guests === large ? 'evt-mem-large' : 'evt-mem-small');
      // Rows of members no longer on the list, so stale removal has rows to remove (1%).
      if (removeStale) await seedStaleRows(db, message.eventUid, Math.ceil(guests / 100));
      const job = { mode, warmup, message, guests, removeStale };
      const { stdout } = await run(
        process.execPath,
        ['--expose-gc', ...flags[settings], 'test/bench/memory-child.ts', db.url, luma.url, JSON.stringify(job)],
        // Nothing of the bench's own NODE_OPTIONS reaches the child: its flags are all above.
        { env: { ...process.env, NODE_OPTIONS: '' } },
      );
      const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildResult;
      if (result.fetched !== guests) throw new Error(`memory child fetched ${result.fetched} of ${guests}`);
      if (removeStale && result.removed === 0) throw new Error('memory child removed no stale rows');
      // Keep the guest table the size the later scenarios expect.
      await db.sql`DELETE FROM "PLEventGuest" WHERE "eventUid" IN (${message.eventUid}, ${warmup.eventUid})`;
      return result.growthBytes;
    };
    for (let i = 0; i < runs; i++) {
      for (const [variant, removeStale] of [
        ['plain', false],
        ['stale', true],
      ] as const) {
        const rssSmall = await measure('rss', small, removeStale);
        const rssLarge = await measure('rss', large, removeStale);
        rss[variant]!.push((rssLarge - rssSmall) / MiB);
        heap[variant]!.push(await measure('heap', large, removeStale));
      }
      const defaultsSmall = await measure('rss', small, false, 'defaults');
      const defaultsLarge = await measure('rss', large, false, 'defaults');
      rss.defaults!.push((defaultsLarge - defaultsSmall) / MiB);
    }
  } finally {
    await luma.stop();
  }
  const name = `5. memory, ${large / 1000}k vs 1k guests, growth over a warmed-up baseline, as the image runs under a 256 MiB limit`;
  const k = `${large / 1000}k`;
  return [
    figure(name, `RSS growth during the sync, ${k} minus 1k`, 'MiB', rss.plain!, { text: '<= 30', ok: (m) => m <= 30 }),
    figure(name, `RSS growth during the sync, ${k} minus 1k, stale removal on`, 'MiB', rss.stale!, {
      text: '<= 30',
      ok: (m) => m <= 30,
    }),
    figure(
      name,
      `RSS growth during the sync, ${k} minus 1k, Node's defaults on this host (context: a worker outside a container)`,
      'MiB',
      rss.defaults!,
      reported,
    ),
    figure(
      name,
      `heap held during the ${k} sync (after GC)`,
      'MiB',
      heap.plain!.map((b) => b / MiB),
      { text: '<= 4', ok: (m) => m <= 4 },
    ),
    figure(
      name,
      `heap held during the ${k} sync (after GC), stale removal on, per guest`,
      'bytes/guest',
      heap.stale!.map((b) => b / large),
      { text: '<= 64', ok: (m) => m <= 64 },
    ),
  ];
}

/** `count` synced rows of the event for members the simulated list never names. */
async function seedStaleRows(db: Database, eventUid: string, count: number): Promise<void> {
  await db.sql`
    INSERT INTO "Member" (uid, name, email, "updatedAt")
    SELECT 'bench-stale-' || i, 'Stale ' || i, 'stale' || i || '@example.net', now()
    FROM generate_series(0, ${count - 1}) AS i
    ON CONFLICT DO NOTHING`;
  await db.sql`
    INSERT INTO "PLEventGuest" (uid, "eventUid", "locationUid", "memberUid", "externalGuestId", "updatedAt")
    SELECT md5(random()::text), ${eventUid}, 'bench-loc', 'bench-stale-' || i, 'gst-stale-' || i, now()
    FROM generate_series(0, ${count - 1}) AS i`;
}
