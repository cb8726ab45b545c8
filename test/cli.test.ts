import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import type { Db } from '../src/db/client.ts';
import { plEvent } from '../src/db/schema.ts';
import { HELP } from '../src/main.ts';
import { acquireClaim } from '../src/sync/claim.ts';
import { type CliRun, runCliProcess } from './support/cli-process.ts';
import { createTestDatabase } from './support/db.ts';
import { testEnv } from './support/env.ts';
import { DAY, guestsOf, seedEvent, seedMember } from './support/seed.ts';
import { createFifoQueue, createTestSqs, receiveAll } from './support/sqs-queue.ts';
import { startStack } from './support/stack.ts';
import { startWorkerProcess } from './support/worker-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MIGRATION_TAGS = (
  JSON.parse(readFileSync(path.join(ROOT, 'migrations/meta/_journal.json'), 'utf8')).entries as Array<{ tag: string }>
).map((e) => e.tag);

/** The pretty-printed JSON document a command prints among its log lines (its braces alone start and end it). */
function printedJson(run: CliRun): Record<string, unknown> {
  const lines = run.stdout.split('\n');
  const start = lines.indexOf('{');
  const end = lines.indexOf('}', start);
  assert.ok(start >= 0 && end > start, `no JSON document in stdout:\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(lines.slice(start, end + 1).join('\n'));
}

async function lastSyncedAt(db: Db, eventUid: string) {
  const [row] = await db.select({ at: plEvent.guestLastSyncedAt }).from(plEvent).where(eq(plEvent.uid, eventUid));
  return row?.at ?? null;
}

/** A connection URL to the test server that is right in every part but the password. */
function withWrongPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

const stack = await startStack({ label: 'cli' });
const { db } = stack.database;

async function seedEventWithGuests(members: number, strangers: number) {
  const seeded = await Promise.all(Array.from({ length: members }, () => seedMember(db)));
  const event = await seedEvent(db);
  stack.lumaEvents[event.externalEventId!] = [
    ...seeded.map((m, i) => ({ id: `gst-${event.uid}-${i}`, email: m.email! })),
    ...Array.from({ length: strangers }, (_, i) => ({ id: `gst-x-${event.uid}-${i}`, email: `x${i}@nowhere.io` })),
  ];
  return event;
}

describe('luma-guest-sync sync', () => {
  it('prints the result as JSON and writes the guests', async () => {
    const event = await seedEventWithGuests(3, 1);

    const run = await runCliProcess(['sync', '--event', event.uid], stack.env);

    assert.equal(run.code, 0, run.stderr);
    const result = printedJson(run);
    assert.equal(result.eventUid, event.uid);
    assert.equal(result.dryRun, false);
    assert.deepEqual([result.fetched, result.matched, result.created], [4, 3, 3]);
    assert.equal((await guestsOf(db, event.uid)).length, 3);
    assert.notEqual(await lastSyncedAt(db, event.uid), null);
  });

  it('with --dry-run reports the guests it would create and writes nothing', async () => {
    const event = await seedEventWithGuests(2, 0);

    const run = await runCliProcess(['sync', '--event', event.uid, '--dry-run'], stack.env);

    assert.equal(run.code, 0, run.stderr);
    const result = printedJson(run);
    assert.equal(result.dryRun, true);
    assert.equal(result.created, 2);
    assert.equal((await guestsOf(db, event.uid)).length, 0);
    assert.equal(await lastSyncedAt(db, event.uid), null);
  });

  it('says who holds the event and until when, and writes nothing, while another sync holds it', async () => {
    const event = await seedEventWithGuests(2, 0);
    // What a worker's sync of the event holds while it runs.
    const claim = await acquireClaim(db, event.uid, { leaseSeconds: 600, holder: 'worker-7:4242' });
    const run = await runCliProcess(['sync', '--event', event.uid], stack.env);

    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(`Event ${event.uid} is already being synced by worker-7:4242 \\(claimed until \\d{4}-\\d\\d-\\d\\dT`),
    );
    assert.equal((await guestsOf(db, event.uid)).length, 0);
    assert.ok(claim.token);
  });

  it('exits 1 for an event the directory does not have', async () => {
    const run = await runCliProcess(['sync', '--event', 'no-such'], stack.env);

    assert.equal(run.code, 1);
    assert.ok(run.logs.some((l) => l.msg === 'no such event' && l.eventUid === 'no-such'));
    assert.ok(!run.stdout.split('\n').includes('{'), 'no result printed');
  });

  it('without --event exits 2 with the cause and a pointer to --help, not the whole help', async () => {
    const run = await runCliProcess(['sync'], stack.env);

    assert.equal(run.code, 2);
    assert.equal(
      run.stderr,
      "luma-guest-sync: sync needs --event <uid>\nRun 'luma-guest-sync --help' for the commands and options.\n",
    );
    assert.ok(!run.stderr.includes(HELP));
  });
});

describe('luma-guest-sync enqueue', () => {
  /** A directory of its own: three syncable events, one already over and one not linked to Luma. */
  async function directoryWithEvents() {
    const database = await createTestDatabase({ label: 'cli_enqueue' });
    const syncable = await Promise.all([1, 2, 3].map(() => seedEvent(database.db)));
    const past = Date.now() - 2 * DAY;
    await seedEvent(database.db, { startDate: new Date(past - DAY), endDate: new Date(past) });
    await seedEvent(database.db, { externalEventProvider: null, externalEventId: null });
    return { database, syncable: syncable.map((e) => e.uid).sort() };
  }

  it('sends one message per syncable event', async () => {
    const { database, syncable } = await directoryWithEvents();
    const sqs = createTestSqs();
    const queue = await createFifoQueue(sqs, { label: 'cli-enqueue' });

    const run = await runCliProcess(['enqueue'], {
      ...stack.env,
      DATABASE_URL: database.url,
      PL_EVENT_GUEST_SYNC_QUEUE_URL: queue.url,
    });

    assert.equal(run.code, 0, run.stderr);
    const report = printedJson(run);
    assert.deepEqual([report.eventsFound, report.enqueued, report.failed], [3, 3, 0]);
    const messages = await receiveAll(sqs, queue.url);
    const bodies = messages.map((m) => JSON.parse(m.Body!) as { eventUid: string; scheduledFor: string });
    assert.deepEqual(bodies.map((b) => b.eventUid).sort(), syncable);
    assert.deepEqual(messages.map((m) => m.Attributes?.MessageGroupId).sort(), syncable);
    assert.ok(bodies.every((b) => b.scheduledFor === report.slot));
  });

  it('with --dry-run reports the events found and sends nothing', async () => {
    const { database } = await directoryWithEvents();
    const sqs = createTestSqs();
    const queue = await createFifoQueue(sqs, { label: 'cli-enqueue-dry' });

    const run = await runCliProcess(['enqueue', '--dry-run'], {
      ...stack.env,
      DATABASE_URL: database.url,
      PL_EVENT_GUEST_SYNC_QUEUE_URL: queue.url,
    });

    assert.equal(run.code, 0, run.stderr);
    const report = printedJson(run);
    assert.deepEqual([report.eventsFound, report.enqueued, report.dryRun], [3, 0, true]);
    assert.deepEqual(await receiveAll(sqs, queue.url), []);
  });
  it('with --tiers runs one freshness tick: the due events once, with trigger tier', async () => {
    const { database, syncable } = await directoryWithEvents();
    const sqs = createTestSqs();
    const queue = await createFifoQueue(sqs, { label: 'cli-enqueue-tiers' });
    const env = { ...stack.env, DATABASE_URL: database.url, PL_EVENT_GUEST_SYNC_QUEUE_URL: queue.url };

    const run = await runCliProcess(['enqueue', '--tiers'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual([printedJson(run).enqueued, printedJson(run).failed], [3, 0]);
    const bodies = (await receiveAll(sqs, queue.url)).map(
      (m) => JSON.parse(m.Body!) as { eventUid: string; trigger: string },
    );
    assert.deepEqual(bodies.map((b) => b.eventUid).sort(), syncable);
    assert.ok(bodies.every((b) => b.trigger === 'tier'));

    const again = await runCliProcess(['enqueue', '--tiers', '--dry-run'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(printedJson(again).enqueued, 0, 'nothing is due again within its interval');
  });
});

describe('luma-guest-sync db:migrate', () => {
  it('applies every migration to an empty database, and a second run applies none', async () => {
    const empty = await createTestDatabase({ migrate: false, label: 'cli_migrate' });
    const env = { DATABASE_URL: empty.url };

    const first = await runCliProcess(['db:migrate'], env);
    const second = await runCliProcess(['db:migrate'], env);

    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.logs.find((l) => l.msg === 'migrations applied')?.applied, MIGRATION_TAGS);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(second.logs.find((l) => l.msg === 'database already up to date')?.applied, []);
    const password = new URL(empty.url).password;
    assert.ok(password && !`${first.stdout}${first.stderr}`.includes(password), 'the password is not logged');
  });
});

describe('luma-guest-sync usage and configuration', () => {
  it('--help exits 0 and documents every command and option', async () => {
    const run = await runCliProcess(['--help'], {});

    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${HELP}\n`);
    for (const usage of ['[daemon]', 'sync --event <uid>', 'enqueue', 'db:migrate', '--dry-run', '--help']) {
      assert.ok(run.stdout.includes(usage), `documents ${usage}`);
    }
    assert.match(run.stdout, /Exit codes: 0 success, 1 failure, 2 bad usage or configuration/);
  });

  it('runs from the package bin', async () => {
    const run = await runCliProcess(['--help'], {}, { bin: true });

    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${HELP}\n`);
  });

  it('exits 2 for an unknown command', async () => {
    const run = await runCliProcess(['frobnicate'], {});

    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown command "frobnicate"/);
  });

  it('exits 2 naming every bad variable, before connecting to anything', async () => {
    const run = await runCliProcess(['daemon'], {
      ...stack.env,
      PL_EVENT_GUEST_SYNC_ENABLED: 'yes',
      LUMA_PAGE_SIZE: '0',
    });

    assert.equal(run.code, 2);
    assert.match(run.stderr, /PL_EVENT_GUEST_SYNC_ENABLED: must be "true" or "false"/);
    assert.match(run.stderr, /LUMA_PAGE_SIZE: must be a whole number/);
    assert.equal(run.stdout, '', 'nothing started, nothing logged');
  });

  it('never shows the password of a bad DATABASE_URL', async () => {
    const password = 'Wr0ng-Pa55word-xyzzy';
    const notPostgres = await runCliProcess(['db:migrate'], {
      DATABASE_URL: `mysql://lgs:${password}@127.0.0.1:3306/dir`,
    });
    assert.equal(notPostgres.code, 2);
    assert.match(notPostgres.stderr, /DATABASE_URL: must be a postgres:\/\/ connection URL/);

    const wrongPassword = withWrongPassword(testEnv('adminDatabaseUrl'), password);
    const migrate = await runCliProcess(['db:migrate'], { DATABASE_URL: wrongPassword });
    const sync = await runCliProcess(['sync', '--event', 'any'], { ...stack.env, DATABASE_URL: wrongPassword });
    assert.equal(migrate.code, 1);
    assert.equal(sync.code, 1);
    assert.match(migrate.stderr, /password authentication failed/, 'the server did refuse the password');

    const daemon = await startWorkerProcess({ ...stack.env, DATABASE_URL: wrongPassword });
    await daemon.waitForLog((l) => l.msg === 'waiting for a dependency' && l.what === 'directory schema');
    const readyz = await fetch(`${daemon.url}/readyz`);
    assert.equal(readyz.status, 503);
    const readyzBody = await readyz.text();
    daemon.child.kill('SIGTERM');
    assert.equal(await daemon.exited, 0);

    const outputs = {
      notPostgres: notPostgres.stdout + notPostgres.stderr,
      migrate: migrate.stdout + migrate.stderr,
      sync: sync.stdout + sync.stderr,
      daemon: JSON.stringify(daemon.lines) + daemon.stderr(),
      readyz: readyzBody,
    };
    for (const [name, text] of Object.entries(outputs)) {
      assert.ok(!text.includes(password), `${name} output shows the password:\n${text}`);
    }
  });
});
