/**
 * The freshness tiers: how often an event is synced by how soon it starts, and which due
 * events one tick can afford. Pure functions; tier-tick.ts feeds them from the database.
 */

/** One tier: events starting within `horizonMs` (and not within a nearer tier) sync every `intervalMs`. */
export interface Tier {
  /** The horizon as configured, e.g. "48h"; the metrics' label. */
  name: string;
  horizonMs: number;
  intervalMs: number;
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d{1,5})([mhd])$/;

function duration(text: string, what: string): number {
  const match = DURATION.exec(text);
  if (!match) throw new Error(`${what} "${text}" is not a duration such as 15m, 48h or 14d`);
  const ms = Number(match[1]) * UNIT_MS[match[2]!]!;
  if (ms === 0) throw new Error(`${what} "${text}" must be longer than zero`);
  return ms;
}

/**
 * Parses PL_EVENT_GUEST_SYNC_TIERS, e.g. "48h=15m,14d=60m": comma-separated
 * `<starts within>=<sync every>` pairs. Throws naming the bad part; sorted nearest first.
 */
export function parseTiers(text: string): Tier[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new Error('must list at least one tier such as 48h=15m');
  const tiers = parts.map((part) => {
    const [horizon, interval, extra] = part.split('=').map((s) => s.trim());
    if (!horizon || !interval || extra !== undefined) {
      throw new Error(`tier "${part}" is not <starts within>=<sync every>, e.g. 48h=15m`);
    }
    return { name: horizon, horizonMs: duration(horizon, 'horizon'), intervalMs: duration(interval, 'interval') };
  });
  tiers.sort((a, b) => a.horizonMs - b.horizonMs);
  for (let i = 1; i < tiers.length; i++) {
    if (tiers[i]!.horizonMs === tiers[i - 1]!.horizonMs) throw new Error(`horizon ${tiers[i]!.name} is listed twice`);
  }
  return tiers;
}

/** The tier of an event starting at `startMs`, seen at `nowMs`: the nearest whose horizon covers it. */
export function tierOf(tiers: readonly Tier[], startMs: number, nowMs: number): Tier | undefined {
  const until = startMs - nowMs;
  return tiers.find((tier) => until <= tier.horizonMs);
}

/** What the tick knows about one syncable event starting within the widest horizon. */
export interface TierCandidate<E = unknown> {
  event: E;
  eventUid: string;
  startDate: Date;
  /** Start of its last successful sync, whatever triggered it. */
  lastSuccessAt?: Date;
  /** Pages its last successful sync read: the estimate of what the next one costs. */
  lastPages?: number;
  /** Without lastPages (never succeeded, or its history pruned): its synced rows. */
  syncedGuests?: number;
  /** Guests read per member matched, over recent successful syncs of any event. */
  guestsPerMatch?: number;
  /** The tier slot it was last enqueued for. */
  lastTierSlot?: Date;
}

export interface TickPlan<E> {
  /** Due events the budget affords, soonest start first, with their tier and estimated cost. */
  selected: Array<{ candidate: TierCandidate<E>; tier: Tier; cost: number }>;
  /** Due events left for a later tick because the budget was spent. */
  deferred: number;
  /** Estimated requests of the selected events. */
  cost: number;
  /** Per tier: how long its longest-waiting due event has been due, in ms (0 when none). */
  oldestDueMs: Map<string, number>;
}

/**
 * When an event is next due in `tier`, in ms: a tier interval after it was last enqueued
 * by a tick, or after its last successful sync by any trigger (less one tick, so a sync
 * that started a moment after the tick that sent it still counts for that tick).
 * -Infinity for an event never synced nor enqueued. Shared with the `status` command.
 */
export function tierDueAt(
  candidate: Pick<TierCandidate, 'lastTierSlot' | 'lastSuccessAt'>,
  tier: Tier,
  tickMs: number,
): number {
  const references = [
    candidate.lastTierSlot?.getTime(),
    candidate.lastSuccessAt ? candidate.lastSuccessAt.getTime() - tickMs : undefined,
  ].filter((t): t is number => t !== undefined);
  return references.length === 0 ? Number.NEGATIVE_INFINITY : Math.max(...references) + tier.intervalMs;
}

/**
 * The fewest pages an event is estimated at: a sync reads at least its first page. An
 * event with neither a recorded success nor synced rows (a new event) gets this floor,
 * and its first sync records its real cost.
 */
export const MIN_ESTIMATED_PAGES = 1;

/**
 * Requests the next sync of an event will take: the pages its last successful sync read;
 * without one (a new event, a history pruned by retention, a sync that keeps failing
 * after filling rows) its synced rows — each one a guest on the Luma list — scaled by
 * the guests read per match of recent syncs (the guests with no directory account), in
 * pages of `pageSize`. Never below MIN_ESTIMATED_PAGES.
 */
export function estimatePages(
  candidate: Pick<TierCandidate, 'lastPages' | 'syncedGuests' | 'guestsPerMatch'>,
  pageSize: number,
): number {
  if (candidate.lastPages !== undefined) return Math.max(MIN_ESTIMATED_PAGES, candidate.lastPages);
  // A list holds at least the guests the rows came from.
  const guests = (candidate.syncedGuests ?? 0) * Math.max(1, candidate.guestsPerMatch ?? 1);
  return Math.max(MIN_ESTIMATED_PAGES, Math.ceil(guests / pageSize));
}

/**
 * Picks the events due at `slot` and affordable within `budget` requests. An event is
 * due when a tier interval has passed since it was last enqueued by a tick, or since its
 * last successful sync by any trigger (less one tick, so a sync that started a moment
 * after the tick that sent it still counts for that tick). Soonest start first; an event
 * costing more than what is left (estimatePages) is passed over for cheaper later ones,
 * and waits.
 */
export function planTick<E>(
  candidates: readonly TierCandidate<E>[],
  options: { tiers: readonly Tier[]; slot: Date; tickMs: number; budget: number; pageSize: number },
): TickPlan<E> {
  const now = options.slot.getTime();
  const plan: TickPlan<E> = { selected: [], deferred: 0, cost: 0, oldestDueMs: new Map() };
  for (const tier of options.tiers) plan.oldestDueMs.set(tier.name, 0);
  const ordered = [...candidates].sort((a, b) => a.startDate.getTime() - b.startDate.getTime());
  for (const candidate of ordered) {
    const tier = tierOf(options.tiers, candidate.startDate.getTime(), now);
    if (!tier) continue;
    const dueAt = tierDueAt(candidate, tier, options.tickMs);
    if (dueAt > now) continue;
    // An event never synced counts as due for one interval, so the gauge stays finite.
    const waited = Number.isFinite(dueAt) ? now - dueAt : tier.intervalMs;
    plan.oldestDueMs.set(tier.name, Math.max(plan.oldestDueMs.get(tier.name) ?? 0, waited));
    const cost = estimatePages(candidate, options.pageSize);
    if (plan.cost + cost > options.budget) {
      plan.deferred++;
      continue;
    }
    plan.cost += cost;
    plan.selected.push({ candidate, tier, cost });
  }
  return plan;
}

/**
 * Requests one tick may plan: `share` of the key's budget over the tick's length. The
 * budget is per `windowMs` (Luma's minute), so a 5-minute tick at 180 per minute and a
 * share of 0.5 may plan 450 requests.
 */
export function tickBudget(options: { share: number; perWindow: number; windowMs: number; tickMs: number }): number {
  return Math.floor((options.share * options.perWindow * options.tickMs) / options.windowMs);
}
