import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';

/** Runs the fixture the way an engineer runs one test file: `node file.ts`, not `node --test`. */
async function exitCodeOf(fixtureImport: string, outcome: 'pass' | 'fail'): Promise<number | null> {
  const child = spawn(process.execPath, ['test/fixtures/one-test-file.ts'], {
    env: { ...process.env, FIXTURE_IMPORT: fixtureImport, FIXTURE_OUTCOME: outcome },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const [code] = await once(child, 'exit');
  return code as number | null;
}

describe('a test file run on its own', () => {
  // Stryker's tap runner and engineers run single files this way; a failure must show in the exit code.
  // A server started and stopped in the file: test/exit-status.test.ts.
  for (const fixtureImport of ['none', 'faults']) {
    it(`exits 1 when a test fails and 0 when all pass (imports: ${fixtureImport})`, async () => {
      assert.equal(await exitCodeOf(fixtureImport, 'fail'), 1);
      assert.equal(await exitCodeOf(fixtureImport, 'pass'), 0);
    });
  }
});
