import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type LocalRun, startLocalRun } from './support/local-run.ts';
import { waitFor } from './support/sqs-queue.ts';

/** The temp folder run-local announces first. */
function tempFolderOf(run: LocalRun): string {
  const folder = /\[local\] temp folder: (\S+)/.exec(run.output())?.[1];
  assert.ok(folder, run.output());
  return folder;
}

/** Asserts that nothing the run started is alive (exiting processes get a moment to be reaped). */
async function assertNothingLeft(run: LocalRun): Promise<void> {
  await waitFor(() => run.processes().size === 0, 10_000, 'every process of the local run to exit').catch(() => {
    assert.fail(`still running: ${JSON.stringify(Object.fromEntries(run.processes()))}`);
  });
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('npm run local', () => {
  it('--once syncs the demo directory, prints the created guests and leaves nothing behind', async () => {
    const run = startLocalRun(['--once']);
    const code = await run.exited;
    const output = run.output();

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
    assert.match(lines(output).at(-1)!, /^\[local\] stopped: /);
    assert.equal(existsSync(tempFolderOf(run)), false, 'the temp folder is removed');
    await assertNothingLeft(run);
  });

  it('stops on Ctrl-C: the worker first, then the servers, then a last line; nothing left', async () => {
    const run = startLocalRun();
    await run.waitForOutput(/Ctrl-C stops everything/);
    // The line it prints for the CLI works as printed: status against the running stack.
    const cliLine = /\[local\] CLI against this stack: (.+)$/m.exec(run.output())?.[1];
    assert.ok(cliLine, run.output());
    const status = spawnSync('sh', ['-c', cliLine], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(status.status, 0, `${status.stdout}\n${status.stderr}`);
    assert.match(status.stdout, /Lisbon Hack Day/, 'the demo events, as status lists them');
    const stopAt = run.output().length;
    run.ctrlC();
    await run.exited;
    const output = run.output();
    const after = output.slice(stopAt);

    const order = [
      /\[local\] SIGINT: stopping the worker, then the servers/,
      /\[local\] stopping \(SIGTERM\): the worker first/,
      /\[local\] worker stopped \(0\); stopping the SQS server, the simulated Luma and PostgreSQL/,
      /\[local\] local stack stopped/,
      /\[local\] stopped: the worker and the servers have exited; removed /,
    ];
    const positions = order.map((pattern) => after.search(pattern));
    assert.ok(
      positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1]!)),
      `in order ${positions}:\n${after}`,
    );
    assert.match(lines(after).at(-1)!, order.at(-1)!, 'the last line');
    // The worker stopped before the SQS server and the database did, so it logged no errors.
    assert.doesNotMatch(after, /"level":(50|60)|\bERROR\b|Error:/, after);
    assert.equal(existsSync(tempFolderOf(run)), false, 'the temp folder (with PostgreSQL data) is removed');
    await assertNothingLeft(run);
  });

  it('forces on a second Ctrl-C while the stop hangs, and still removes the temp folder', async () => {
    const run = startLocalRun();
    await run.waitForOutput(/Ctrl-C stops everything/);
    // Pause the worker: it cannot act on SIGTERM, so the orderly stop waits on it.
    const worker = [...run.processes()].find(([, command]) => command.includes('src/main.ts daemon'));
    assert.ok(worker, JSON.stringify([...run.processes()]));
    process.kill(worker[0], 'SIGSTOP');

    run.ctrlC();
    await run.waitForOutput(/still stopping; Ctrl-C again to force/);
    run.ctrlC();
    const code = await run.exited;
    const output = run.output();

    assert.ok(code === 130 || code === 'SIGINT', `npm ended with ${code}`);
    assert.match(lines(output).at(-1)!, /^\[local\] forced: killed the worker and the servers; removed /);
    assert.equal(existsSync(tempFolderOf(run)), false, 'the temp folder is removed');
    await assertNothingLeft(run);
  });
});
