/**
 * `npm run bench [-- --quick] [--out results.json] [--runs N] [--only 1,3] [--sqs-rtt-ms 20] [--pgbouncer]`
 * (`--only 4` runs scenario 4 alone: the rate budget, idle and with the CPU loaded)
 *
 * Measures the real pipeline against its own limits, in one run: a real PostgreSQL
 * (DATABASE_URL, or a throwaway embedded one), the simulated Luma over real HTTP, and
 * a real SQS server. Figures are medians of several runs, and ratios to floors measured
 * in the same run, because these machines are shared and absolute times drift.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type LocalPostgres, startEmbeddedPostgres } from '../../src/local/embedded-postgres.ts';
import { startLocalSqs } from '../../src/local/local-sqs.ts';
import { startPgBouncer } from '../../src/local/pgbouncer.ts';
import { interruptedAndResumed, slowLumaLongSync } from './claim-scenarios.ts';
import { freshness } from './freshness-scenario.ts';
import { type Figure, machine, table } from './harness.ts';
import { memory } from './memory-scenario.ts';
import { pageParsing } from './parse-scenario.ts';
import { referenceComparison } from './reference-scenario.ts';
import { scheduler } from './scheduler-scenario.ts';
import { seedBulkMembers } from './seed-bulk.ts';
import { startupAndRest } from './startup-scenario.ts';
import { createBenchDatabase } from './sync-env.ts';
import { apiBound, databaseBound, rateLimit, scaling, statementsPerPage } from './sync-scenarios.ts';
import { transactions } from './transaction-scenario.ts';

const USAGE = `usage: npm run bench [-- --quick] [--out results.json] [--runs N] [--only 1,3] [--sqs-rtt-ms 20] [--pgbouncer]
  --quick        smaller scenarios, 3 runs each (a few minutes)
  --out FILE     also write the figures as JSON
  --runs N       runs per scenario (default 5, 3 with --quick)
  --only LIST    only these scenarios, by number (docs/performance.md lists them)
  --sqs-rtt-ms N the round trip scenario 7's proxy adds to SQS (default 20)
  --pgbouncer    the sync scenarios reach PostgreSQL through a transaction-mode PgBouncer`;

const values = argumentsOrExit();
const quick = values.quick ?? false;
const runs = Number(values.runs ?? (quick ? 3 : 5));
const sqsRtt = values['sqs-rtt-ms'] === undefined ? undefined : Number(values['sqs-rtt-ms']);
const only = values.only ? new Set(values.only.split(',').map(Number)) : undefined;
if (
  (values.runs !== undefined && !(runs >= 1 && Number.isInteger(runs))) ||
  (only && [...only].some((n) => !Number.isInteger(n) || n < 1))
)
  exitWithUsage(`--runs takes a whole number of at least 1, and --only a comma-separated list of scenario numbers`);

const postgres: LocalPostgres | undefined = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres();
const adminUrl = process.env.DATABASE_URL || postgres!.url;
const sqs = await startLocalSqs();
// --pgbouncer: the sync scenarios' database handle goes through a transaction-mode PgBouncer.
const pgbouncer = values.pgbouncer ? await startPgBouncer(adminUrl) : undefined;
if (pgbouncer) console.error('through PgBouncer in transaction mode (DATABASE_POOLER=transaction)');
const db = await createBenchDatabase(adminUrl, { pooledUrl: pgbouncer?.url });
// Scenario 4 reads at most 6,000 guests: run alone, it need not wait for the full seed.
const onlyRateLimit = only?.size === 1 && only.has(4);
const members = onlyRateLimit ? 6_000 : quick ? 40_000 : 200_000;
const figures: Figure[] = [];
try {
  // Scenarios 13 and 14 need no directory members (13 makes its own database).
  if (!only || [...only].some((n) => n !== 13 && n !== 14)) {
    console.error(`seeding ${members} members…`);
    await seedBulkMembers(db.sql, members);
  }
  const options = { db, runs, quick };
  const scenarios: Array<[number, () => Promise<Figure[]>]> = [
    [1, () => databaseBound(options)],
    [2, () => statementsPerPage(options)],
    [3, () => apiBound(options)],
    [4, () => rateLimit(options)],
    [5, () => memory(options)],
    [6, () => scaling(options)],
    [7, () => scheduler({ adminUrl, runs, quick, sqsRttMs: sqsRtt })],
    [8, () => pageParsing({ runs })],
    [9, () => referenceComparison(options)],
    [10, () => freshness({ adminUrl, sqsEndpoint: sqs.endpoint, quick })],
    [11, () => interruptedAndResumed(options)],
    [12, () => slowLumaLongSync(options)],
    [13, () => startupAndRest({ adminUrl, sqsEndpoint: sqs.endpoint, runs, quick })],
    [14, () => transactions(options)],
  ];
  for (const [n, scenario] of scenarios) {
    if (only && !only.has(n)) continue;
    console.error(`scenario ${n}…`);
    const result = await scenario();
    for (const f of result) console.error(`  ${f.figure}: ${f.median} ${f.unit} (target ${f.target})`);
    figures.push(...result);
  }
} finally {
  await db.drop();
  await pgbouncer?.stop();
  await sqs.stop();
  await postgres?.stop();
}

const report = { date: new Date().toISOString(), machine: machine(), quick, runs, scenarios: figures };
console.log(`\n${report.date} — ${report.machine}${quick ? ' — quick' : ''}, ${runs} runs\n`);
console.log(table(figures));
if (values.out) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
// process.exit, not process.exitCode: embedded-postgres's exit hook (async-exit-hook) exits
// with 0 on 'beforeExit', which made a run with a missed target exit 0.
process.exit(figures.every((f) => f.met) ? 0 : 1);

/** The command line's options; on --help, or an option the bench does not know, the usage and exit 0 or 2. */
function argumentsOrExit() {
  try {
    const { values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        out: { type: 'string' },
        runs: { type: 'string' },
        only: { type: 'string' },
        'sqs-rtt-ms': { type: 'string' },
        pgbouncer: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    return values;
  } catch (err) {
    return exitWithUsage((err as Error).message);
  }
}

function exitWithUsage(problem: string): never {
  console.error(`bench: ${problem}\n${USAGE}`);
  process.exit(2);
}
