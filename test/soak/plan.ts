/**
 * What one soak run does and when, from its command line: sizes, the active phase's
 * length, the fault schedule (as shares of the active phase) and the quiet period's
 * bounds. `--quick` shrinks the run to about three minutes of activity for CI; the rate
 * limit stays Luma's real 200 a minute (the run is shorter, not faster).
 */
import { parseArgs } from 'node:util';
import { parseSabotages, type Sabotage } from './sabotage.ts';

export interface SoakPlan {
  seed: number;
  quick: boolean;
  out?: string;
  /** What to break on purpose (docs/soak.md): none in a normal run. */
  sabotage: Set<Sabotage>;
  /** The active phase: driver and faults. */
  activeMs: number;
  /** Longest wait for every event's final whole sync (a bound on a hang, not a speed target). */
  finalMs: number;
  members: number;
  bigEventGuests: number;
  /** Events with editable lists besides the large one, and their sizes. */
  events: number;
  guestsPerEvent: [number, number];
  /** Luma's limit per key, and its window. */
  lumaPerMinute: number;
  lumaDownMs: number;
  clockOffsetMs: number;
  /** Mean pause between two driver actions. */
  actionEveryMs: number;
  /** Fault and change times, as shares of the active phase. */
  at: {
    kill: number;
    rollingToPooler: number;
    emailChanged: number;
    memberDeleted: number;
    dailyPass: number;
    lumaDown: number;
    newEventLinked: number;
    postgresRestart: number;
    /** Every database connection of the replicas reset (network.ts): on direct connections, then behind PgBouncer. */
    networkResetDirect: number;
    networkResetPooled: number;
    eventMoved: number;
    sqsRestart: number;
    rollingBack: number;
    driverStops: number;
  };
  /** Largest growth of a replica's RSS from warm-up to the end. */
  rssBound: { factor: number; plusMb: number };
}

export function parsePlan(argv: string[]): SoakPlan {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string' },
      quick: { type: 'boolean', default: false },
      seed: { type: 'string' },
      out: { type: 'string' },
      sabotage: { type: 'string' },
    },
  });
  const quick = values.quick ?? false;
  const minutes = values.minutes === undefined ? (quick ? 2 : 10) : Number(values.minutes);
  if (!Number.isFinite(minutes) || minutes < 1)
    throw new Error(`--minutes must be a number of at least 1, not ${values.minutes}`);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, not ${values.seed}`);
  const long = minutes >= 5;
  return {
    seed,
    quick,
    out: values.out,
    sabotage: parseSabotages(values.sabotage),
    activeMs: minutes * 60_000,
    // A bound on a hang, not a speed target: a healthy worker ends the wait far sooner, and a
    // loaded CI machine must not turn slowness into a broken invariant.
    finalMs: long ? 600_000 : 360_000,
    members: 200_000,
    // 100 guests a page: 120 pages at 180 requests a minute is 40 s at the very least, past
    // the 30 s a pooled connection may sit idle; 400 pages is well over two minutes.
    bigEventGuests: long ? 40_000 : 12_000,
    events: 8,
    guestsPerEvent: [20, 350],
    lumaPerMinute: 200,
    lumaDownMs: long ? 60_000 : 30_000,
    clockOffsetMs: 3 * 60_000,
    actionEveryMs: long ? 3_000 : 2_000,
    at: {
      kill: 0.15,
      rollingToPooler: 0.25,
      emailChanged: 0.3,
      memberDeleted: 0.4,
      dailyPass: 0.42,
      lumaDown: 0.45,
      newEventLinked: 0.5,
      postgresRestart: 0.6,
      networkResetDirect: 0.2,
      networkResetPooled: 0.7,
      eventMoved: 0.65,
      sqsRestart: 0.75,
      rollingBack: 0.85,
      driverStops: 0.9,
    },
    rssBound: { factor: 1.5, plusMb: 40 },
  };
}
