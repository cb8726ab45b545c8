/**
 * How much of a request budget (B requests in any window of W ms) a run used, from the
 * arrival times Luma saw. Two figures, because they answer different questions.
 */

/**
 * The budget's own figure. A budget used to the full lets request k + B arrive exactly one
 * window after request k (never sooner: then B + 1 requests would share a window), so
 *
 *   W × (n − B) / Σ_k (a[k+B] − a[k])      (arrivals sorted, k = 0 … n − B − 1)
 *
 * is 1 for a budget that wastes nothing and the fraction of each window it used otherwise.
 * The sum telescopes to B × (mean of the last B arrivals − mean of the first B), so this is
 * the windows' worth of requests after the first burst over the windows between the first
 * burst's and the last burst's middles: how the requests are spread inside a burst (the
 * syncs' own pace, not the budget) cancels out. Above 1 only if some window at Luma held
 * more than B requests.
 */
export function shareOfChains(arrivals: readonly number[], budget: number, windowMs: number): number {
  const a = [...arrivals].sort((x, y) => x - y);
  const chains = a.length - budget;
  if (chains <= 0) return Number.NaN;
  let span = 0;
  for (let k = 0; k < chains; k++) span += a[k + budget]! - a[k]!;
  return round((windowMs * chains) / span);
}

/**
 * The run's figure: n requests over the windows from the first arrival to the last, as if
 * every window's requests arrived at its start. It also charges the budget with the
 * spread of the last window's requests, which is the syncs' own pace: one event's pages
 * come one after another, so on a starved CPU its last 20 requests alone can take a
 * quarter of a window.
 */
export function shareAtLuma(arrivals: readonly number[], budget: number, windowMs: number): number {
  if (arrivals.length === 0) return Number.NaN;
  const span = Math.max(...arrivals) - Math.min(...arrivals);
  return round(arrivals.length / (span / windowMs + 1) / budget);
}

const round = (x: number) => Math.round(x * 1000) / 1000;
