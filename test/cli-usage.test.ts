/** The CLI's usage errors: one line with the cause and the closest flag, then where to read on. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closestFlag, explainParseError, UsageError } from '../src/cli/usage.ts';
import { parseCommand } from '../src/main.ts';

const usageOf = (argv: string[]) => {
  try {
    parseCommand(argv);
  } catch (err) {
    assert.ok(err instanceof UsageError, `a UsageError, not ${String(err)}`);
    return err.message;
  }
  assert.fail(`${argv.join(' ')} parsed`);
};

describe('CLI usage errors', () => {
  it('name a mistyped flag and the closest one the command knows', () => {
    assert.equal(usageOf(['sync', '--evnt', 'x']), 'unknown option --evnt; did you mean --event?');
    assert.equal(usageOf(['enqueue', '--dryrun']), 'unknown option --dryrun; did you mean --dry-run?');
    assert.equal(usageOf(['status', '--josn']), 'unknown option --josn; did you mean --json?');
  });

  it('suggest nothing for a flag that resembles none', () => {
    assert.equal(usageOf(['status', '--verbose']), 'unknown option --verbose');
  });

  it('say which option lacks its value', () => {
    assert.equal(usageOf(['sync', '--event']), '--event needs a value');
  });

  it('keep a short flag in the message as typed', () => {
    assert.equal(usageOf(['-x']), 'unknown option -x');
  });

  it('pass on anything else parseArgs throws as it is', () => {
    assert.equal(explainParseError(new Error('odd'), ['event']).message, 'odd');
  });

  it('find typos by edit distance, a swap of neighbours counting once', () => {
    assert.equal(closestFlag('tiers', ['tiers', 'json']), 'tiers');
    assert.equal(closestFlag('teirs', ['tiers', 'json']), 'tiers');
    assert.equal(closestFlag('url', ['event', 'url']), 'url');
    assert.equal(closestFlag('zzzzz', ['event', 'url']), undefined);
  });
});
