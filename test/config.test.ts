import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, fifoQueueName, loadConfig, sqsEndpoint } from '../src/config/config.ts';
import { REFERENCE_FILE, referenceWithTable, renderJsonSchema, SCHEMA_FILE } from '../src/config/json-schema.ts';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

/** The least a consumer needs: the variables it requires, and nothing else. */
const consumer = {
  PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true',
  LUMA_API_KEY: 'k',
  DATABASE_URL: 'postgres://u@db/x',
  PL_EVENT_GUEST_SYNC_QUEUE_NAME: 'q',
};

describe('loadConfig', () => {
  it('gives the business flow defaults when nothing is set', () => {
    const config = loadConfig({});
    assert.equal(config.enabled, false);
    assert.equal(config.consumer.enabled, false);
    assert.equal(config.cron, '0 3 * * *');
    assert.equal(config.queue.name, 'pl-event-guest-sync');
    assert.equal(config.queue.url, '');
    assert.equal(config.luma.apiUrl, 'https://public-api.luma.com');
    assert.equal(config.luma.pageSize, 100);
    assert.equal(config.luma.rateLimitRetries, 3);
    assert.equal(config.luma.rateLimitWaitSeconds, 60);
    assert.ok(config.luma.rateLimitPerMinute < 200, 'stays below Luma’s 200 requests per minute');
  });

  it('reads and coerces every kind of value', () => {
    const config = loadConfig({
      PL_EVENT_GUEST_SYNC_ENABLED: 'true',
      PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: '1',
      PL_EVENT_GUEST_SYNC_CRON: '*/5 * * * *',
      PL_EVENT_GUEST_SYNC_REMOVE_STALE_MAX_SHARE: '0.25',
      LUMA_API_KEY: ' secret-key\n',
      LUMA_PAGE_SIZE: '50',
      DATABASE_URL: 'postgres://u:p@db:5432/directory',
      AWS_ENDPOINT_URL_SQS: 'http://localhost:4566',
    });
    assert.equal(config.enabled, true);
    assert.equal(config.consumer.enabled, true);
    assert.equal(config.cron, '*/5 * * * *');
    assert.equal(config.removeStaleMaxShare, 0.25);
    assert.equal(config.luma.apiKey, 'secret-key', 'surrounding whitespace is trimmed');
    assert.equal(config.luma.pageSize, 50);
    assert.equal(sqsEndpoint(config), 'http://localhost:4566');
  });

  it('reads the Luma retry and response bounds, and refuses a backoff base above its cap', () => {
    const defaults = loadConfig({}).luma;
    assert.deepEqual(
      [defaults.retries, defaults.retryBaseMs, defaults.retryMaxMs, defaults.maxResponseBytes],
      [5, 500, 30_000, 4 * 1024 * 1024],
    );
    const set = loadConfig({ LUMA_RETRIES: '0', LUMA_MAX_RESPONSE_BYTES: '1048576' }).luma;
    assert.deepEqual([set.retries, set.maxResponseBytes], [0, 1_048_576]);
    assert.deepEqual(problemsOf({ LUMA_RETRY_BASE_MS: '5000', LUMA_RETRY_MAX_MS: '1000' }), [
      'LUMA_RETRY_BASE_MS: must not exceed LUMA_RETRY_MAX_MS',
    ]);
    assert.equal(problemsOf({ LUMA_MAX_RESPONSE_BYTES: '0' }).length, 1);
    assert.equal(problemsOf({ LUMA_RETRIES: '-1' }).length, 1);
  });

  it('reads the cron catch-up window and the enqueue concurrency, and names bad ones', () => {
    const defaults = loadConfig({});
    assert.deepEqual([defaults.cronCatchUpSeconds, defaults.enqueueConcurrency], [3_600, 32]);
    const set = loadConfig({
      PL_EVENT_GUEST_SYNC_CRON_CATCH_UP_SECONDS: '0',
      PL_EVENT_GUEST_SYNC_ENQUEUE_CONCURRENCY: '4',
    });
    assert.deepEqual([set.cronCatchUpSeconds, set.enqueueConcurrency], [0, 4]);
    const problems = problemsOf({
      PL_EVENT_GUEST_SYNC_CRON_CATCH_UP_SECONDS: '-1',
      PL_EVENT_GUEST_SYNC_ENQUEUE_CONCURRENCY: '0',
    });
    assert.equal(problems.length, 2, problems.join('; '));
    assert.ok(problems.some((p) => p.startsWith('PL_EVENT_GUEST_SYNC_CRON_CATCH_UP_SECONDS')));
    assert.ok(problems.some((p) => p.startsWith('PL_EVENT_GUEST_SYNC_ENQUEUE_CONCURRENCY')));
  });

  it('reads whether the database is behind a transaction-mode pooler, and names a bad value', () => {
    assert.equal(loadConfig({}).database.pooler, 'none');
    assert.equal(loadConfig({ DATABASE_POOLER: 'transaction' }).database.pooler, 'transaction');
    const problems = problemsOf({ DATABASE_POOLER: 'pgbouncer' });
    assert.equal(problems.length, 1, problems.join('; '));
    assert.match(problems[0] ?? '', /^DATABASE_POOLER: /);
  });

  it('refuses a pool with no connection beside one per running sync, for the consumer only', () => {
    assert.equal(loadConfig({ ...consumer, DATABASE_POOL_MAX: '3' }).database.poolMax, 3, '2 syncs and one more');
    for (const poolMax of ['2', '1']) {
      const problems = problemsOf({ ...consumer, DATABASE_POOL_MAX: poolMax });
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(
        problems[0] ?? '',
        new RegExp(
          `^DATABASE_POOL_MAX: must be at least PL_EVENT_GUEST_SYNC_CONCURRENCY \\+ 1 \\(3\\), not ${poolMax}: each running sync holds a connection while its page statements run`,
        ),
      );
    }
    assert.equal(
      loadConfig({ ...consumer, PL_EVENT_GUEST_SYNC_CONCURRENCY: '8', DATABASE_POOL_MAX: '9' }).database.poolMax,
      9,
    );
    assert.equal(
      problemsOf({ ...consumer, PL_EVENT_GUEST_SYNC_CONCURRENCY: '8' }).length,
      1,
      'the default 5 is too few',
    );
    // Without the consumer (a one-shot sync, the scheduler alone) one connection is enough.
    assert.equal(loadConfig({ DATABASE_POOL_MAX: '1' }).database.poolMax, 1);
  });

  it('refuses a claim lease the queue would outlive a dead worker with, naming both variables and the rule', () => {
    // The defaults fit: a 60 s lease, a 120 s visibility timeout with a heartbeat every 40 s.
    assert.equal(loadConfig(consumer).claim.leaseSeconds, 60);
    // The longest lease for 120 s is 80 s: the message of a worker killed just before a
    // heartbeat reappears 80 s after its last one, and its claim must be free by then.
    assert.equal(loadConfig({ ...consumer, SYNC_CLAIM_LEASE_SECONDS: '80' }).claim.leaseSeconds, 80);
    const tooLong = problemsOf({ ...consumer, SYNC_CLAIM_LEASE_SECONDS: '81' });
    assert.equal(tooLong.length, 1, tooLong.join('\n'));
    const [problem] = tooLong;
    assert.match(
      problem ?? '',
      /^SYNC_CLAIM_LEASE_SECONDS: must be shorter than PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS by at least the visibility heartbeat interval/,
    );
    assert.match(
      problem ?? '',
      /visibility timeout of 120 s \(heartbeat every 40 s\) the lease may be at most 80 s, not 81 s/,
    );
    // Equal to the visibility timeout (the mistake this guards against), and a shortened
    // visibility timeout under the default lease.
    assert.equal(problemsOf({ ...consumer, SYNC_CLAIM_LEASE_SECONDS: '120' }).length, 1);
    const shortVisibility = problemsOf({ ...consumer, PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS: '60' });
    assert.match(
      shortVisibility[0] ?? '',
      /timeout of 60 s \(heartbeat every 20 s\) the lease may be at most 40 s, not 60 s/,
    );
    // Small values, as tests use them: 4 s with a 1 s heartbeat allows 3 s; 3 s allows 2 s, below the minimum lease.
    assert.equal(
      loadConfig({ ...consumer, PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS: '4', SYNC_CLAIM_LEASE_SECONDS: '3' })
        .claim.leaseSeconds,
      3,
    );
    assert.equal(
      problemsOf({ ...consumer, PL_EVENT_GUEST_SYNC_VISIBILITY_TIMEOUT_SECONDS: '3', SYNC_CLAIM_LEASE_SECONDS: '3' })
        .length,
      1,
    );
    // Without the consumer no message is held: `sync --event` takes any valid lease.
    assert.equal(loadConfig({ SYNC_CLAIM_LEASE_SECONDS: '600' }).claim.leaseSeconds, 600);
    // An invalid lease is named once, for what it is, not also for the rule.
    const invalid = problemsOf({ ...consumer, SYNC_CLAIM_LEASE_SECONDS: '2' });
    assert.deepEqual(invalid, ['SYNC_CLAIM_LEASE_SECONDS: must be a whole number of seconds from 3 to 3600']);
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.luma));
  });

  it('names every bad variable at once, with what is expected', () => {
    const problems = problemsOf({
      PL_EVENT_GUEST_SYNC_ENABLED: 'yes',
      PL_EVENT_GUEST_SYNC_CRON: '61 * * * *',
      LUMA_API_URL: 'not a url',
      LUMA_PAGE_SIZE: '0',
      DATABASE_URL: 'mysql://db/x',
      LOG_LEVEL: 'loud',
    });
    const byVar = (name: string) => problems.find((p) => p.startsWith(`${name}:`));
    assert.match(byVar('PL_EVENT_GUEST_SYNC_ENABLED') ?? '', /"true" or "false"/);
    assert.match(byVar('PL_EVENT_GUEST_SYNC_CRON') ?? '', /cron expression/);
    assert.match(byVar('LUMA_API_URL') ?? '', /http\(s\) URL/);
    assert.match(byVar('LUMA_PAGE_SIZE') ?? '', /whole number from 1/);
    assert.match(byVar('DATABASE_URL') ?? '', /postgres:\/\//);
    assert.match(byVar('LOG_LEVEL') ?? '', /possible values/);
    assert.equal(problems.length, 6);
  });

  it('leaves the freshness parts off by default and names a bad tier, tick or share', () => {
    const config = loadConfig({});
    assert.equal(config.tiers.enabled, false);
    assert.equal(config.tiers.schedule, '48h=15m,14d=60m');
    assert.equal(config.history.retentionDays, 30);
    const problems = problemsOf({
      PL_EVENT_GUEST_SYNC_TIERS: '48h=15s',
      PL_EVENT_GUEST_SYNC_TIER_TICK_MINUTES: '7',
      PL_EVENT_GUEST_SYNC_TIER_BUDGET_SHARE: '1.5',
      PL_EVENT_GUEST_SYNC_HISTORY_RETENTION_DAYS: '0',
    });
    const byVar = (name: string) => problems.find((p) => p.startsWith(`${name}:`));
    assert.match(byVar('PL_EVENT_GUEST_SYNC_TIERS') ?? '', /interval "15s" is not a duration such as 15m/);
    assert.match(byVar('PL_EVENT_GUEST_SYNC_TIER_TICK_MINUTES') ?? '', /divides 60/);
    assert.match(byVar('PL_EVENT_GUEST_SYNC_TIER_BUDGET_SHARE') ?? '', /at most 1/);
    assert.match(byVar('PL_EVENT_GUEST_SYNC_HISTORY_RETENTION_DAYS') ?? '', /whole number from 1/);
    assert.equal(problems.length, 4);
    const webhook = problemsOf({ LUMA_WEBHOOK_SECRET: 'whsec_not base64!', LUMA_WEBHOOK_DEBOUNCE_SECONDS: '301' });
    assert.match(webhook.find((p) => p.startsWith('LUMA_WEBHOOK_SECRET:')) ?? '', /whsec_ followed by base64/);
    assert.ok(!webhook.join('\n').includes('not base64!'), 'the secret is not quoted');
    assert.match(webhook.find((p) => p.startsWith('LUMA_WEBHOOK_DEBOUNCE_SECONDS:')) ?? '', /from 1 to 300/);
    assert.equal(loadConfig({}).webhook.enabled, false);
  });

  it('requires the Luma key and the database when the feature or the consumer is enabled, naming only the toggles that are on', () => {
    for (const toggle of ['PL_EVENT_GUEST_SYNC_ENABLED', 'PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED']) {
      const problems = problemsOf({ [toggle]: 'true' });
      assert.ok(problems.includes(`LUMA_API_KEY: is required because ${toggle} is true`), problems.join('\n'));
      assert.ok(problems.includes(`DATABASE_URL: is required because ${toggle} is true`), problems.join('\n'));
    }
    const both = problemsOf({ PL_EVENT_GUEST_SYNC_ENABLED: 'true', PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true' });
    assert.ok(
      both.includes(
        'LUMA_API_KEY: is required because PL_EVENT_GUEST_SYNC_ENABLED and PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED are true',
      ),
      both.join('\n'),
    );
  });

  it('names a missing key together with other bad variables, not after they are fixed', () => {
    const problems = problemsOf({ PL_EVENT_GUEST_SYNC_CONSUMER_ENABLED: 'true', LUMA_PAGE_SIZE: '0' });
    assert.ok(problems.some((p) => p.startsWith('LUMA_PAGE_SIZE:')));
    assert.ok(problems.some((p) => p.startsWith('LUMA_API_KEY: is required')));
  });

  it('never prints a secret value in its message', () => {
    try {
      loadConfig({ DATABASE_URL: 'mysql://admin:hunter2-secret@db/x', LUMA_PAGE_SIZE: 'x' });
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.doesNotMatch(err.message, /hunter2-secret/);
    }
  });
});

describe('queue naming', () => {
  it('accepts a local server’s queue URL and refuses one that is not a FIFO queue', () => {
    const local = 'http://sqs.us-east-1.127.0.0.1:4566/000000000000/pl-event-guest-sync.fifo';
    assert.equal(loadConfig({ PL_EVENT_GUEST_SYNC_QUEUE_URL: local }).queue.url, local);
    const [problem] = problemsOf({ PL_EVENT_GUEST_SYNC_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/1/standard' });
    assert.match(problem ?? '', /^PL_EVENT_GUEST_SYNC_QUEUE_URL: must name a FIFO queue/);
  });

  it('appends .fifo to a FIFO queue name that lacks it, once', () => {
    assert.equal(fifoQueueName('pl-event-guest-sync'), 'pl-event-guest-sync.fifo');
    assert.equal(fifoQueueName('pl-event-guest-sync.fifo'), 'pl-event-guest-sync.fifo');
  });
});

describe('generated configuration documents', () => {
  it('config.schema.json matches the convict schema (run npm run config:schema)', () => {
    assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), renderJsonSchema());
  });

  it("docs/configuration.md's table matches the convict schema (run npm run config:schema)", () => {
    const reference = readFileSync(REFERENCE_FILE, 'utf8');
    assert.equal(reference, referenceWithTable(reference));
  });
});
