/** Statuses and attempts for format-status.test.ts: every outcome, duration shape and column edge. */
import type { SyncHistoryRow } from '../../src/history/queries.ts';
import type { EventStatus } from '../../src/status/event-status.ts';

export const now = new Date('2026-12-05T12:00:00.000Z');
const at = (iso: string) => new Date(iso);
const counts = { pages: 3, fetched: 250, matched: 40, created: 7, removed: 1, skipped: 2, withoutAccount: 210 };

export const events: EventStatus[] = [
  {
    eventUid: 'evt-long',
    // 33 characters: cut to 31 and an ellipsis.
    name: 'An event whose name is too long!!',
    startDate: at('2026-12-08T18:30:00.000Z'),
    failed: true,
    overdue: true,
    lastAttempt: {
      trigger: 'webhook',
      outcome: 'failure',
      startedAt: at('2026-12-03T09:58:00.000Z'),
      // 2 days, 2 hours and a bit ago: the coarsest two units.
      finishedAt: at('2026-12-03T09:59:30.000Z'),
      errorKind: 'provider',
      ...counts,
    },
    lastSuccessAt: at('2026-12-02T10:00:00.000Z'),
    ageSeconds: 266_400,
    // Overdue on its tier: event-status gives "now" itself (never a time in the past).
    nextDueAt: now,
    nextDueBy: '48h',
  },
  {
    eventUid: 'evt-never',
    // 32 characters exactly: shown whole.
    name: 'Thirty-two characters, exactly!!',
    startDate: at('2026-12-20T00:00:00.000Z'),
    failed: false,
    overdue: false,
    nextDueAt: at('2026-12-05T16:05:07.000Z'),
    nextDueBy: 'daily',
  },
  {
    eventUid: 'evt-ok',
    name: 'Short',
    startDate: at('2026-12-06T00:00:00.000Z'),
    failed: false,
    overdue: false,
    lastAttempt: {
      trigger: 'schedule',
      outcome: 'success',
      startedAt: at('2026-12-05T11:59:10.000Z'),
      finishedAt: at('2026-12-05T11:59:15.500Z'),
      errorKind: null,
      pages: null,
      fetched: null,
      matched: null,
      created: null,
      removed: null,
      skipped: null,
      withoutAccount: null,
    },
    lastSuccessAt: at('2026-12-05T11:59:10.000Z'),
    ageSeconds: 50,
  },
  {
    eventUid: 'evt-just-now',
    name: 'Just synced',
    startDate: at('2026-12-07T00:00:00.000Z'),
    failed: false,
    overdue: false,
    lastAttempt: {
      trigger: 'manual',
      outcome: 'success',
      // Exactly an hour ago: no "0m".
      startedAt: at('2026-12-05T10:59:00.000Z'),
      finishedAt: at('2026-12-05T11:00:00.000Z'),
      errorKind: null,
      ...counts,
    },
    lastSuccessAt: now,
    ageSeconds: 0,
  },
];

const attempt = (
  outcome: SyncHistoryRow['outcome'],
  startedAt: string,
  took: number,
  errorKind: string | null = null,
) => ({
  eventUid: 'evt-long',
  trigger: 'tier' as const,
  outcome,
  startedAt: at(startedAt),
  finishedAt: new Date(at(startedAt).getTime() + took),
  errorKind,
  ...counts,
});

export const history: SyncHistoryRow[] = [
  attempt('failure', '2026-12-03T09:58:00.000Z', 90_000, 'provider'),
  attempt('failure', '2026-12-03T08:00:00.000Z', 1_250, null),
  attempt('refused', '2026-12-03T07:00:00.000Z', 40),
  attempt('interrupted', '2026-12-03T06:00:00.000Z', 12_345),
  attempt('deferred', '2026-12-03T05:00:00.000Z', 300),
  attempt('success', '2026-12-02T10:00:00.000Z', 61_000),
];
