import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './support/sqs-queue.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** True while any process of the group `pgid` is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

describe('npm run local', () => {
  it('--once syncs the demo directory, prints the created guests and leaves no process behind', async () => {
    // A process group of its own (npm, the runner, PostgreSQL, the worker), so what it
    // leaves behind can be found, and killed if the test fails.
    const child = spawn('npm', ['run', 'local', '--', '--once'], {
      cwd: ROOT,
      detached: true,
      env: {
        PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? '/tmp',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pgid = child.pid!;
    after(() => {
      if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const timer = setTimeout(() => process.kill(-pgid, 'SIGKILL'), 60_000);
    const [code] = await once(child, 'exit');
    clearTimeout(timer);

    assert.equal(code, 0, output);
    assert.match(output, /\[local\] synced: 8 guest rows created/);
    const rows = output.split('\n').filter((line) => /^│ \d+ +│/.test(line));
    assert.equal(rows.length, 8, output);
    for (const text of ['Ada Lovelace', 'Grace Hopper', 'Margaret Hamilton', 'Lisbon Summit', 'Lisbon Hack Day']) {
      assert.ok(output.includes(text), `shows ${text}`);
    }
    assert.ok(!output.includes('Not A Member'), 'a guest who is no member is not created');
    assert.match(output, /\[local\] registered Luma webhook whk-\w+ for http:\/\/127\.0\.0\.1:\d+\/webhooks\/luma/);
    assert.match(output, /\[local\] Barbara Liskov registered for Lisbon Hack Day on Luma; webhook answered 202/);
    assert.match(
      output,
      /\[local\] webhook: Barbara Liskov is in the directory's Lisbon Hack Day guests \d+\.\d s after/,
    );
    // PostgreSQL's backends run in groups of their own, but its postmaster is in ours and
    // outlives them; the worker and the runner are in ours too. Allow their last moments.
    await waitFor(() => !groupAlive(pgid), 5_000, 'every process of the local stack to exit');
  });
});
