import { SQSClient } from '@aws-sdk/client-sqs';
import { type DayPlan, type DayResult, type Mode, runFreshnessDay } from './freshness-day.ts';
import { type Figure, figure } from './harness.ts';
import { createBenchDatabase } from './sync-env.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** The webhook debounce window in production; the compressed day scales it away, so it is added back. */
const WEBHOOK_WINDOW_S = 10;

/** Percentile (0-1) of values, nearest rank; NaN for none. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

/**
 * Scenario 10: a compressed day (one virtual day in 60 s, 30 s with --quick) with 30
 * events and 40 registrations arriving over it, run three times on the same day: the
 * daily pass alone, with the freshness tiers, and with webhooks. Reports the lag from a
 * guest's approval on Luma to their directory row, the Luma requests used, 429s, and
 * whether the next day's daily pass still synced every event.
 */
export async function freshness(options: { adminUrl: string; sqsEndpoint: string; quick: boolean }) {
  const scale = options.quick ? 1440 : 720;
  const plan: DayPlan = {
    scale,
    events: 30,
    soonEvents: 10,
    registrations: 40,
    // Per virtual minute, as Luma counts: a directory far smaller than Luma's 200/min needs.
    lumaPerWindow: 40,
    clientPerWindow: 36,
  };
  const figures: Figure[] = [];
  for (const mode of ['daily', 'tiers', 'webhooks'] as Mode[]) {
    const db = await createBenchDatabase(options.adminUrl);
    const sqs = new SQSClient({
      region: 'us-east-1',
      endpoint: options.sqsEndpoint,
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    });
    try {
      console.error(`  freshness: ${mode}…`);
      const result = await runFreshnessDay({ db, sqs }, mode, plan);
      figures.push(...figuresOf(mode, result, scale));
    } finally {
      sqs.destroy();
      await db.drop();
    }
  }
  return figures;
}

function figuresOf(mode: Mode, result: DayResult, scale: number): Figure[] {
  const name = `10. freshness, ${mode === 'daily' ? 'daily pass only' : mode === 'tiers' ? 'tiered schedule' : 'webhooks'}`;
  const lagMs = result.registrations.map((reg, i) => {
    const appeared = result.appearedAt[i];
    return appeared === undefined ? undefined : appeared - reg.realAt;
  });
  const appearedIn = (i: number) => lagMs[i] !== undefined;
  const virtualLag = (i: number) => lagMs[i]! * scale;
  const soon = result.registrations
    .map((_, i) => i)
    .filter((i) => {
      const reg = result.registrations[i]!;
      return reg.eventStart - reg.at <= 48 * HOUR;
    });
  const beforeStart = result.registrations.filter(
    (reg, i) => appearedIn(i) && reg.at + virtualLag(i) < reg.eventStart,
  ).length;
  const all = result.registrations.map((_, i) => i).filter(appearedIn);
  const common = [
    figure(
      name,
      'rows in the directory before their event starts',
      'share',
      [beforeStart / result.registrations.length],
      {
        text: 'reported',
        ok: () => true,
      },
    ),
    figure(name, 'Luma requests over the day (incl. next 03:00 pass)', 'requests', [result.requests], {
      text: 'reported',
      ok: () => true,
    }),
    figure(name, '429 answers', 'count', [result.rateLimited], { text: '0', ok: (m) => m === 0 }),
    figure(name, "next day's daily pass: events synced / due", 'share', [result.dailySynced / result.dailyDue], {
      text: '1',
      ok: (m) => m === 1,
    }),
  ];
  if (mode === 'webhooks') {
    // Processing (queue, Luma pages, SQL) runs at real speed and does not compress: the lag
    // is real time, plus the full production window the compressed clock scaled away.
    const seconds = all.map((i) => lagMs[i]! / 1000 + WEBHOOK_WINDOW_S);
    return [
      figure(name, 'lag p50 (real, + a full 10 s window)', 's', [percentile(seconds, 0.5)], {
        text: 'reported',
        ok: () => true,
      }),
      figure(name, 'lag p95 (real, + a full 10 s window)', 's', [percentile(seconds, 0.95)], {
        text: '<= 60',
        ok: (m) => m <= 60,
      }),
      figure(name, 'lag max (real, + a full 10 s window)', 's', [Math.max(...seconds)], {
        text: 'reported',
        ok: () => true,
      }),
      ...common,
    ];
  }
  const minutes = (ids: number[]) => ids.filter(appearedIn).map((i) => virtualLag(i) / MIN);
  const lagFigures = [
    figure(name, 'lag p50, all events', 'min', [percentile(minutes(all), 0.5)], { text: 'reported', ok: () => true }),
    figure(name, 'lag p95, all events', 'min', [percentile(minutes(all), 0.95)], { text: 'reported', ok: () => true }),
    figure(name, 'lag max, all events', 'min', [Math.max(...minutes(all))], { text: 'reported', ok: () => true }),
  ];
  const soonP95 = percentile(minutes(soon), 0.95);
  const soonMissing = soon.filter((i) => !appearedIn(i)).length;
  lagFigures.push(
    figure(name, 'lag p95, events <= 48 h away', 'min', [soonMissing > 0 ? Number.POSITIVE_INFINITY : soonP95], {
      text: mode === 'tiers' ? '<= 15' : 'reported',
      ok: (m) => mode !== 'tiers' || m <= 15,
    }),
  );
  return [...lagFigures, ...common];
}
