import { parseGuestPage } from '../../src/providers/luma-page.ts';
import { type Figure, figure } from './harness.ts';

/**
 * Scenario 8: parsing one guest page of 50,000 entries (the legacy shape, mixed-case
 * emails), in CPU time of this process so a busy machine's waits do not count. This was
 * an assertion in `npm test` until speed moved out of it.
 */
export async function pageParsing({ runs }: { runs: number }): Promise<Figure[]> {
  const guests = 50_000;
  const entries = Array.from({ length: guests }, (_, i) => ({
    api_id: `gst-${i}`,
    guest: { api_id: `gst-${i}`, email: `Guest${i}@Example.com`, name: `Guest ${i}`, approval_status: 'approved' },
  }));
  const body = JSON.stringify({ entries, has_more: false });
  const cpuMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const before = process.cpuUsage();
    const page = parseGuestPage(body, { eventUid: 'bench-parse', page: 1 });
    const used = process.cpuUsage(before);
    if (page.guests.length !== guests) throw new Error(`parsed ${page.guests.length} of ${guests} guests`);
    cpuMs.push((used.user + used.system) / 1000);
  }
  return [
    figure('8. page parsing, 50k guests in one page', 'CPU time', 'ms', cpuMs, {
      // About three times this machine's figure: a parser gone quadratic or copying fails it.
      text: '<= 200',
      ok: (m) => m <= 200,
    }),
  ];
}
