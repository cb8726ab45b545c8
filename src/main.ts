/**
 * luma-guest-sync: the entry point and command dispatch.
 *
 *   luma-guest-sync [daemon]                      run the worker (scheduler and/or consumer)
 *   luma-guest-sync sync --event <uid> [--dry-run] sync one event now, in the foreground
 *   luma-guest-sync enqueue [--dry-run]           run the scheduler's discovery once
 *   luma-guest-sync db:migrate                    apply the database migrations
 *   luma-guest-sync status [--event <uid>] [--json] last sync and next due of each event
 *   luma-guest-sync webhooks:register --url <url> create (or reuse) the Luma webhook
 */

import { parseArgs } from 'node:util';
import { explainParseError, UsageError, usageMessage } from './cli/usage.ts';
import type { Config } from './config/config.ts';
import { loadDrizzleAsCommonJs } from './drizzle-as-commonjs.ts';
import type { Logger } from './log.ts';

// Each command imports what it uses when it runs (`await import` below), so `--help` loads
// none of it and `status` no queue client; and nothing here imports drizzle-orm, so
// runCli can make it load as CommonJS first (see drizzle-as-commonjs.ts). Keep it so:
// test/startup/lazy-loading.test.ts checks it.

export const HELP = `luma-guest-sync — keeps the PL Network Directory's event guest lists in step with Luma

Usage:
  luma-guest-sync [daemon]                 Run the worker: the cron scheduler when
                                           PL_EVENT_GUEST_SYNC_ENABLED=true, the SQS consumer when
                                           PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED=true, and the
                                           /healthz, /readyz and /metrics server on HTTP_PORT.
  luma-guest-sync sync --event <uid>       Sync one event now, in the foreground, and print the result
                                           (JSON on stdout; log lines on stderr).
  luma-guest-sync enqueue                  Find every syncable event and enqueue one message each, once.
  luma-guest-sync enqueue --tiers          Run one tick of the freshness schedule: enqueue the events due by tier.
  luma-guest-sync db:migrate               Apply the migrations to DATABASE_URL (never done implicitly).
  luma-guest-sync status                   Each syncable event's last sync, age and next due time; exits 1
                                           when any last sync failed or is overdue (a scheduled check).
  luma-guest-sync status --event <uid>     That event's status and recent sync attempts.
  luma-guest-sync webhooks:register --url <url>
                                           Create the calendar's Luma webhook for <url> (POST /webhooks/luma
                                           of LUMA_WEBHOOK_PORT), or reuse the existing one; prints its secret.

Options:
  --dry-run    With sync: read Luma and report what would be written, writing nothing.
               With enqueue: report the events that would be enqueued, sending nothing.
  --tiers      With enqueue: the freshness tick instead of the daily pass.
  --json       With status: the same as JSON, for scripts.
  --help       Show this text.

All configuration is read from environment variables; see docs/configuration.md.
Exit codes: 0 success, 1 failure, 2 bad usage or configuration.`;

type Command = 'daemon' | 'sync' | 'enqueue' | 'db:migrate' | 'status' | 'webhooks:register';
const COMMANDS = new Set<string>(['daemon', 'sync', 'enqueue', 'db:migrate', 'status', 'webhooks:register']);

const OPTIONS = {
  event: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  tiers: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export function parseCommand(argv: string[]): {
  command: Command;
  event?: string;
  dryRun: boolean;
  help: boolean;
  tiers: boolean;
  json: boolean;
  url?: string;
} {
  let parsedArgs: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>>;
  try {
    parsedArgs = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    throw explainParseError(err, Object.keys(OPTIONS));
  }
  const { values, positionals } = parsedArgs;
  if (positionals.length > 1) throw new UsageError(`unexpected arguments: ${positionals.slice(1).join(' ')}`);
  const command = positionals[0] ?? 'daemon';
  if (!COMMANDS.has(command)) throw new UsageError(`unknown command "${command}"`);
  if (command === 'sync' && !values.event && !values.help) throw new UsageError('sync needs --event <uid>');
  if (values.event !== undefined && command !== 'sync' && command !== 'status') {
    throw new UsageError('--event belongs to the sync and status commands');
  }
  const json = values.json ?? false;
  if (json && command !== 'status') throw new UsageError('--json belongs to the status command');
  const dryRun = values['dry-run'] ?? false;
  if (dryRun && command !== 'sync' && command !== 'enqueue')
    throw new UsageError('--dry-run belongs to sync and enqueue');
  const tiers = values.tiers ?? false;
  if (tiers && command !== 'enqueue') throw new UsageError('--tiers belongs to the enqueue command');
  if (values.url !== undefined && command !== 'webhooks:register') {
    throw new UsageError('--url belongs to the webhooks:register command');
  }
  if (command === 'webhooks:register' && !values.help && !/^https?:\/\/\S+$/.test(values.url ?? '')) {
    throw new UsageError('webhooks:register needs --url <public http(s) URL of POST /webhooks/luma>');
  }
  return {
    command: command as Command,
    event: values.event,
    dryRun,
    help: values.help ?? false,
    tiers,
    json,
    url: values.url,
  };
}

/** Runs one command; resolves to the process exit code (the daemon resolves once it is up). */
export async function main(argv = process.argv.slice(2), env = process.env): Promise<number> {
  let parsed: ReturnType<typeof parseCommand>;
  try {
    parsed = parseCommand(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(usageMessage(err));
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const { ConfigError, loadConfig } = await import('./config/config.ts');
  let config: Readonly<Config>;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`luma-guest-sync: ${err.message}\n`);
    return 2;
  }
  // The one command that needs Luma only, not the database.
  if (parsed.command === 'webhooks:register') {
    const { runRegisterCommand } = await import('./cli/register-command.ts');
    return runRegisterCommand(config, parsed.url!);
  }
  if (config.database.url === '') {
    process.stderr.write('luma-guest-sync: DATABASE_URL is required\n');
    return 2;
  }
  const { preflight } = await import('./cli/preflight.ts');
  const problem = await preflight(parsed, config);
  if (problem) {
    process.stderr.write(`luma-guest-sync: ${problem.message}\n`);
    return 2;
  }
  // sync, enqueue and status print their result on stdout for scripts to parse; their logs go to stderr.
  const printsResult = parsed.command === 'sync' || parsed.command === 'enqueue' || parsed.command === 'status';
  const { createLogger } = await import('./log.ts');
  const log = createLogger({ ...config.log, toStderr: printsResult });

  try {
    // Every one-shot command reaches the database first, within the connect timeout: a
    // command never hangs on an endpoint that takes connections and never serves them.
    if (parsed.command !== 'daemon') {
      const { probeDatabase } = await import('./db/probe.ts');
      // db:migrate takes no startup setting and works through any pooler (migrate.ts);
      // the other commands' pool refuses a transaction-mode pooler with DATABASE_POOLER=none.
      const pooler = parsed.command === 'db:migrate' ? 'transaction' : config.database.pooler;
      await probeDatabase(config.database.url, { pooler });
    }
    return await runCommand(parsed, config, log);
  } catch (err) {
    if (parsed.command === 'daemon') throw err;
    // A one-shot command's failure, in one line: the root cause and what to do.
    const [{ parseDatabaseUrl }, { explainError }] = await Promise.all([
      import('./db/database-url.ts'),
      import('./cli/explain-error.ts'),
    ]);
    let databaseUser: string | undefined;
    try {
      databaseUser = parseDatabaseUrl(config.database.url).user;
    } catch {
      // Checked above; nothing to add.
    }
    process.stderr.write(`luma-guest-sync: ${explainError(err, { databaseUser })}\n`);
    return 1;
  }
}

async function runCommand(
  parsed: ReturnType<typeof parseCommand>,
  config: Readonly<Config>,
  log: Logger,
): Promise<number> {
  switch (parsed.command) {
    case 'db:migrate': {
      const [{ redactDatabaseUrl }, { runMigrations }] = await Promise.all([
        import('./db/client.ts'),
        import('./db/migrate.ts'),
      ]);
      log.info({ database: redactDatabaseUrl(config.database.url) }, 'applying migrations');
      const result = await runMigrations(config.database.url);
      log.info(
        { applied: result.applied },
        result.applied.length ? 'migrations applied' : 'database already up to date',
      );
      return 0;
    }
    case 'sync': {
      const { runSyncCommand } = await import('./cli/sync-command.ts');
      return runSyncCommand(config, log, parsed.event!, parsed.dryRun);
    }
    case 'enqueue': {
      const { runEnqueueCommand, runTierTickCommand } = await import('./cli/enqueue-command.ts');
      return parsed.tiers
        ? runTierTickCommand(config, log, parsed.dryRun)
        : runEnqueueCommand(config, log, parsed.dryRun);
    }
    case 'status': {
      const { runStatusCommand } = await import('./cli/status-command.ts');
      return runStatusCommand(config, { eventUid: parsed.event, json: parsed.json });
    }
    case 'daemon': {
      const { runDaemon } = await import('./daemon.ts');
      await runDaemon(config, log);
      return 0;
    }
    case 'webhooks:register': {
      const { runRegisterCommand } = await import('./cli/register-command.ts');
      return runRegisterCommand(config, parsed.url!);
    }
  }
}

/**
 * Runs main() for this process: sets the exit code, and reports a crash on stderr with exit 1.
 * The process's entry points (this file run directly, and bin.js) call it, and only they:
 * drizzle's loading is the whole process's, so a test importing main() keeps its own.
 */
export function runCli(): void {
  loadDrizzleAsCommonJs();
  main().then(
    (code) => {
      if (code !== 0) process.exitCode = code;
    },
    async (err: unknown) => {
      const { explainError } = await import('./cli/explain-error.ts');
      process.stderr.write(`luma-guest-sync: ${explainError(err)}\n`);
      process.exit(1);
    },
  );
}

// Executed directly (node src/main.ts); the bin and tests import it instead.
if (import.meta.main) runCli();
