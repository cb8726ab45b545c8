import { CreateQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { loadConfig } from '../../src/config/config.ts';
import { SyncConsumer } from '../../src/consume/consumer.ts';
import type { Database } from '../../src/db/client.ts';
import { withSyncHistory } from '../../src/history/record-attempt.ts';
import { SIM_API_KEY, type SimGuest } from '../../src/local/luma-simulator.ts';
import { startLumaSimulator } from '../../src/local/luma-simulator-http.ts';
import { silentLogger } from '../../src/log.ts';
import { createLumaClient, createLumaProvider } from '../../src/providers/luma.ts';
import { createRateLimiter } from '../../src/providers/rate-limit.ts';
import { createProviderRegistry } from '../../src/providers/registry.ts';
import { runEnqueue, slotOf } from '../../src/schedule/scheduler.ts';
import { runTierTick } from '../../src/schedule/tier-tick.ts';
import { parseTiers, tickBudget } from '../../src/schedule/tiers.ts';
import { syncEvent } from '../../src/sync/sync-event.ts';
import { triggerOf } from '../../src/sync/types.ts';
import { startWebhookReceiver } from '../../src/webhooks/receiver.ts';
import { registerWebhook } from '../../src/webhooks/register.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Virtual midnight the compressed day starts at. */
const T0 = Date.UTC(2031, 0, 1);

export type Mode = 'daily' | 'tiers' | 'webhooks';

export interface DayPlan {
  /** Virtual ms per real ms. */
  scale: number;
  events: number;
  /** Events starting within 48 h of midnight; the rest start within 14 days. */
  soonEvents: number;
  registrations: number;
  /** Luma's budget per real window, and the client's (kept under it, as in production). */
  lumaPerWindow: number;
  clientPerWindow: number;
}

export interface Registration {
  eventUid: string;
  /** Virtual time of the approval on Luma, and of the event's start. */
  at: number;
  eventStart: number;
  /** Real epoch ms of the approval on Luma. */
  realAt: number;
}

export interface DayResult {
  registrations: Registration[];
  /** Real epoch ms each registration's row appeared, by index; undefined when it never did. */
  appearedAt: Array<number | undefined>;
  requests: number;
  rateLimited: number;
  /** Events the last daily pass had to sync, and those it synced. */
  dailyDue: number;
  dailySynced: number;
}

/** A small deterministic generator, so every mode sees the same day. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

/**
 * One compressed day with one trigger mode: `plan.scale` virtual ms pass per real ms.
 * The real parts run at real speed — PostgreSQL, the SQS server, the consumer, the
 * simulated Luma over HTTP with its budget per real window — while every schedule (the
 * daily pass at 03:00, the tier tick, the webhook window) and the virtual clock the
 * scheduler reasons in are compressed. Runs from midnight to the next day's 03:00 pass.
 */
export async function runFreshnessDay(
  deps: { db: Database; sqs: SQSClient },
  mode: Mode,
  plan: DayPlan,
): Promise<DayResult> {
  const { db, sqs } = deps;
  const started = performance.now();
  const vnow = () => new Date(T0 + (performance.now() - started) * plan.scale);
  const realIn = (virtualAt: number) => Math.max(0, (virtualAt - vnow().getTime()) / plan.scale);
  const windowMs = Math.round(MIN / plan.scale);
  const next = random(42);

  // The directory: events with 80-guest lists of strangers (one page), a member per registration.
  await db.sql`INSERT INTO "PLEventLocation" (uid, location, "updatedAt") VALUES ('fresh-loc', 'Fresh', now())`;
  const lists: Record<string, SimGuest[]> = {};
  const events: Array<{ uid: string; lumaId: string; start: number }> = [];
  for (let i = 0; i < plan.events; i++) {
    const start =
      i < plan.soonEvents ? T0 + HOUR + (i * 47 * HOUR) / plan.soonEvents : T0 + 2 * DAY + next() * 12 * DAY;
    const uid = `fresh-${i}`;
    events.push({ uid, lumaId: `evt-fresh-${i}`, start });
    lists[`evt-fresh-${i}`] = Array.from({ length: 80 }, (_, g) => ({
      id: `gst-${i}-${g}`,
      email: `x${i}-${g}@nowhere.io`,
    }));
    await db.sql`
      INSERT INTO "PLEvent" (uid, name, "slugURL", "startDate", "endDate", "locationUid", "externalEventProvider",
                             "externalEventId", "updatedAt")
      VALUES (${uid}, ${uid}, ${uid}, ${new Date(start).toISOString()}::timestamptz AT TIME ZONE 'UTC',
              ${new Date(start + 3 * HOUR).toISOString()}::timestamptz AT TIME ZONE 'UTC', 'fresh-loc', 'LUMA',
              ${`evt-fresh-${i}`}, now())`;
  }
  await db.sql`
    INSERT INTO "Member" (uid, name, email, "updatedAt")
    SELECT 'fresh-m-' || i, 'Registrant ' || i, 'registrant' || i || '@example.org', now()
    FROM generate_series(0, ${plan.registrations - 1}) AS i`;

  const luma = await startLumaSimulator({
    events: lists,
    apiKey: SIM_API_KEY,
    rateLimit: { requests: plan.lumaPerWindow, windowMs },
  });
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: `fresh-${mode}-${Date.now()}.fifo`, Attributes: { FifoQueue: 'true' } }),
  );
  const config = loadConfig({ LUMA_API_KEY: SIM_API_KEY, LUMA_API_URL: luma.url });
  const provider = createLumaProvider({
    config: config.luma,
    limiter: createRateLimiter({ perMinute: plan.clientPerWindow, windowMs }),
    log: silentLogger,
  });
  const syncDeps = { db: db.db, providers: createProviderRegistry([provider]), log: silentLogger, now: vnow };
  const history = { sql: db.sql, retentionDays: 30, log: silentLogger, now: vnow };
  const consumer = new SyncConsumer(
    {
      sqs,
      queueUrl: queueUrl!,
      log: silentLogger,
      sync: (message, signal) =>
        withSyncHistory(history, { eventUid: message.eventUid, trigger: triggerOf(message) }, () =>
          syncEvent(syncDeps, message, { signal }),
        ),
    },
    { concurrency: 4, visibilityTimeoutSeconds: 30, waitTimeSeconds: 1 },
  );
  consumer.start();
  const enqueueDeps = { db: db.db, sql: db.sql, sqs, queueUrl: queueUrl!, log: silentLogger };

  const timers: NodeJS.Timeout[] = [];
  const work: Promise<unknown>[] = [];
  let receiver: { stop(): Promise<void> } | undefined;
  if (mode === 'webhooks') {
    const running = await startWebhookReceiver({
      config: loadConfig({ LUMA_WEBHOOK_PORT: '0' }),
      ...enqueueDeps,
      windowMs: Math.round((10 * 1000) / plan.scale) || 1,
    });
    receiver = running;
    const url = `http://127.0.0.1:${running.port}/webhooks/luma`;
    await registerWebhook(
      await createLumaClient({ apiUrl: luma.url, apiKey: SIM_API_KEY, requestTimeoutMs: 5000 }),
      url,
    );
  }
  if (mode === 'tiers') {
    const tickMs = 5 * MIN;
    const tiers = parseTiers('48h=15m,14d=60m');
    const budget = tickBudget({ share: 0.5, perWindow: plan.clientPerWindow, windowMs: MIN, tickMs });
    const tick = setInterval(() => {
      const slot = new Date(Math.floor(vnow().getTime() / tickMs) * tickMs);
      work.push(runTierTick(enqueueDeps, slot, { tiers, tickMs, budget, pageSize: config.luma.pageSize }));
    }, tickMs / plan.scale);
    timers.push(tick);
  }

  // Registrations over the day, each for an event that has not started; most for soon ones.
  const registrations: Registration[] = [];
  for (let r = 0; r < plan.registrations; r++) {
    const at = T0 + 30 * MIN + (r * 23 * HOUR) / plan.registrations;
    const upcoming = events.filter((e) => e.start > at + HOUR);
    const soon = upcoming.filter((e) => e.start <= at + 2 * DAY);
    const pool = soon.length > 0 && next() < 0.6 ? soon : upcoming;
    const event = pool[Math.floor(next() * pool.length)]!;
    const registration = { eventUid: event.uid, at, eventStart: event.start, realAt: 0 };
    registrations.push(registration);
    timers.push(
      setTimeout(() => {
        registration.realAt = Date.now();
        work.push(luma.registerGuest(event.lumaId, { id: `gst-reg-${r}`, email: `registrant${r}@example.org` }));
      }, realIn(at)),
    );
  }

  // The daily pass at 03:00 today and tomorrow; the day ends when tomorrow's pass is done.
  const dailyPass = (at: number) =>
    new Promise<void>((resolve, reject) => {
      timers.push(
        setTimeout(() => {
          runEnqueue({ db: db.db, sqs, queueUrl: queueUrl!, log: silentLogger }, slotOf(vnow())).then(
            () => resolve(),
            reject,
          );
        }, realIn(at)),
      );
    });
  await dailyPass(T0 + 3 * HOUR);
  const lastPass = T0 + DAY + 3 * HOUR;
  await dailyPass(lastPass);
  const dailyDue = events.filter((e) => e.start + 3 * HOUR > lastPass).map((e) => e.uid);
  let dailySynced = 0;
  for (const deadline = performance.now() + 60_000; performance.now() < deadline; ) {
    const [row] = await db.sql<{ n: number }[]>`
      SELECT count(DISTINCT event_uid)::int AS n FROM luma_guest_sync.sync_history
      WHERE trigger = 'schedule' AND outcome = 'success' AND event_uid = ANY(${dailyDue})
        AND started_at >= ${new Date(lastPass).toISOString()}::timestamptz`;
    dailySynced = row?.n ?? 0;
    if (dailySynced === dailyDue.length) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  for (const timer of timers) clearInterval(timer);
  await Promise.allSettled(work);
  await receiver?.stop();
  await consumer.stop({ graceMs: 10_000 });

  const rows = await db.sql<{ eventUid: string; memberUid: string; createdAt: string }[]>`
    SELECT "eventUid", "memberUid", to_char("createdAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt"
    FROM "PLEventGuest" WHERE "memberUid" LIKE 'fresh-m-%'`;
  const created = new Map(rows.map((row) => [`${row.eventUid}/${row.memberUid}`, Date.parse(row.createdAt)]));
  const appearedAt = registrations.map((reg, r) => created.get(`${reg.eventUid}/fresh-m-${r}`));
  const stats = luma.stats;
  await luma.stop();
  return {
    registrations,
    appearedAt,
    requests: stats.requests,
    rateLimited: stats.rateLimited,
    dailyDue: dailyDue.length,
    dailySynced,
  };
}
