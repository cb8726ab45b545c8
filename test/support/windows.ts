/** The most events inside any half-open window of `windowMs`, given their times in ms. */
export function busiestWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let left = 0;
  for (let right = 0; right < sorted.length; right++) {
    while ((sorted[right] ?? 0) - (sorted[left] ?? 0) >= windowMs) left++;
    best = Math.max(best, right - left + 1);
  }
  return best;
}
