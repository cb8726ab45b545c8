/**
 * The daemon started against a real hot standby (test/support/hot-standby.ts): it neither
 * exits nor asks for a migration; it waits, unready, saying the server is a standby, and
 * goes on once the standby is promoted, as at the end of a failover. Apart from
 * hot-standby.test.ts, whose simulated Luma intercepts every HTTP request of its process.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { runMigrations } from '../../src/db/migrate.ts';
import { startHotStandby } from '../support/hot-standby.ts';
import { startStack } from '../support/stack.ts';
import { startWorkerProcess } from '../support/worker-process.ts';

describe('the daemon on a hot standby', () => {
  it('the daemon started on it waits unready, naming the standby in its log and /readyz, ends its read-only sessions, and becomes ready once it is promoted', async () => {
    const stack = await startStack({ label: 'daemon_standby' });
    const standby = await startHotStandby(async (url) => void (await runMigrations(url)));
    after(() => standby.stop());
    const worker = await startWorkerProcess({ ...stack.env, DATABASE_URL: standby.url });

    const waiting = await worker.waitForLog(
      (l) => l.msg === 'waiting for a dependency' && l.what === 'directory schema',
    );
    assert.match(String(waiting.reason), /^The database server is a read-only hot standby/);
    const unready = await fetch(`${worker.url}/readyz`);
    assert.equal(unready.status, 503);
    const { checks } = (await unready.json()) as { checks: Record<string, { ok: boolean; detail?: string }> };
    assert.equal(checks.schema?.detail, waiting.reason, 'the log line and /readyz say the same');
    assert.equal(checks.database?.ok, true);
    // The session it asked, and the pool's other read-only ones, were ended: each check asks a new one.
    const ended = await worker.waitForLog(
      (l) => l.msg === 'ended read-only database sessions: the pool connects again through DATABASE_URL',
    );
    assert.ok(Number(ended.ended) >= 1, String(ended.ended));

    await standby.promote();
    // The start-up back-off is 1 s doubling to 30 s: ready within one more attempt at most.
    await worker.waitUntilReady(35_000);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
  });
});
