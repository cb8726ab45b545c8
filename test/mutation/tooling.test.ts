/**
 * The mutation tooling's own promises (docs/mutation.md): the hand mutants still apply to
 * the code as it is, the test files for a module are found through its importers, and
 * the ignorer leaves out SQL text and messages but not the values behaviour depends on.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ignoreReason } from './ignore-sql-and-messages.ts';
import { testsReaching } from './related-tests.ts';
import { scoresTable } from './scores.ts';
import { loadMutants } from './sql-mutants.ts';

interface FakeNode {
  type: string;
  [key: string]: unknown;
}
/** The path of `node` inside `parent` (a Babel-shaped stand-in for the plugin). */
const pathOf = (node: FakeNode, parent: FakeNode) => ({ node, parentPath: { node: parent, parentPath: null } });
const text = (value: string): FakeNode => ({ type: 'StringLiteral', value });
const id = (name: string): FakeNode => ({ type: 'Identifier', name });
const member = (object: string, property: string): FakeNode => ({
  type: 'MemberExpression',
  object: id(object),
  property: id(property),
});

describe('the mutation tooling', () => {
  it('has hand mutants that each apply to exactly one place, with test files that exist', () => {
    // loadMutants throws naming the entry whose text no longer occurs exactly once.
    const mutants = loadMutants();
    assert.ok(mutants.length >= 20);
    for (const m of mutants) {
      for (const file of m.tests ?? []) assert.ok(existsSync(file), `${m.id}: ${file} does not exist`);
      assert.ok(m.why.length > 10, `${m.id} says which behaviour it breaks`);
    }
  });

  it('finds the test files of a module through its importers, directly or not', () => {
    const tests = testsReaching(process.cwd(), ['src/webhooks/delivery.ts']);
    assert.ok(tests.includes('test/webhooks/delivery.test.ts'), 'a direct importer');
    assert.ok(tests.includes('test/webhooks/receiver.test.ts'), 'through src/webhooks/server.ts');
    assert.ok(!tests.includes('test/providers/rate-limit.test.ts'));
  });

  it('ignores SQL text, log messages and error messages, never an error kind', () => {
    const sqlText: FakeNode = { type: 'TemplateLiteral' };
    assert.match(ignoreReason(pathOf(sqlText, { type: 'TaggedTemplateExpression', tag: id('sql') })) ?? '', /SQL/);
    assert.equal(ignoreReason(pathOf(sqlText, { type: 'TaggedTemplateExpression', tag: id('html') })), undefined);

    const message = text('sync complete');
    const logCall = { type: 'CallExpression', callee: member('log', 'info'), arguments: [id('result'), message] };
    assert.equal(ignoreReason(pathOf(message, logCall)), 'log message');

    const kind = text('event_deleted');
    const why: FakeNode = { type: 'TemplateLiteral' };
    const thrown = { type: 'NewExpression', callee: id('PermanentError'), arguments: [kind, why] };
    assert.equal(ignoreReason(pathOf(why, thrown)), 'error message');
    assert.equal(ignoreReason(pathOf(kind, thrown)), undefined, 'the kind decides retry or poison');
    // Stryker may already have wrapped the kind in a mutant switch when it visits the message.
    const wrapped = { ...thrown, arguments: [{ type: 'ConditionalExpression' }, why] };
    assert.equal(ignoreReason(pathOf(why, wrapped)), 'error message');
    const byName = { ...thrown, arguments: [kind, id('message')] };
    assert.equal(ignoreReason(pathOf(kind, byName)), undefined, 'a kind before a message held in a variable');
    const plain: FakeNode = { type: 'TemplateLiteral' };
    const withCause = { type: 'NewExpression', callee: id('Error'), arguments: [plain, { type: 'ObjectExpression' }] };
    assert.equal(ignoreReason(pathOf(plain, withCause)), 'error message');

    // An optional logger or method: Babel parses `log?.debug(…)` and `deps.log?.warn(…)` as an
    // OptionalCallExpression of an OptionalMemberExpression, `log.debug?.(…)` as one of a
    // MemberExpression.
    const optional = text('waiting for the shared luma request budget');
    const optionalMember = { ...member('log', 'debug'), type: 'OptionalMemberExpression', optional: true };
    const optionalLogger = {
      type: 'OptionalCallExpression',
      callee: optionalMember,
      arguments: [id('wait'), optional],
    };
    assert.equal(ignoreReason(pathOf(optional, optionalLogger)), 'log message', 'log?.debug(…)');
    const deepLogger = {
      ...optionalLogger,
      callee: { ...optionalMember, object: member('deps', 'log'), property: id('warn') },
    };
    assert.equal(ignoreReason(pathOf(optional, deepLogger)), 'log message', 'deps.log?.warn(…)');
    const optionalMethod = { ...optionalLogger, callee: member('log', 'debug') };
    assert.equal(ignoreReason(pathOf(optional, optionalMethod)), 'log message', 'log.debug?.(…)');
    const optionalOther = { ...optionalLogger, callee: { ...optionalMember, property: id('endsWith') } };
    assert.equal(ignoreReason(pathOf(optional, optionalOther)), undefined, 'url?.endsWith(…) is behaviour');

    const suffix = text('.fifo');
    const endsWith = { type: 'CallExpression', callee: member('url', 'endsWith'), arguments: [suffix] };
    assert.equal(ignoreReason(pathOf(suffix, endsWith)), undefined);
  });

  it("reports each group's score from its committed baseline, and whether the baseline is current, stale or missing", () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'lgs-scores-'));
    try {
      const write = (file: string, text: string) => {
        mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
        writeFileSync(path.join(root, file), text);
      };
      write(
        'test/mutation/modules.json',
        JSON.stringify({
          counted: { mutate: ['src/a.ts'], tests: ['test/a.test.ts'], floor: 40, floorWhy: 'a test fixture' },
          unrun: { mutate: ['src/b.ts'], tests: ['test/b.test.ts'] },
        }),
      );
      write('src/a.ts', 'export const a = 1;\n');
      write('test/a.test.ts', '// a test\n');
      const statuses = ['Killed', 'Timeout', 'Survived', 'NoCoverage', 'Ignored'];
      write(
        'test/mutation/baseline/counted.json',
        JSON.stringify({
          files: { 'src/a.ts': { source: 'export const a = 1;\n', mutants: statuses.map((status) => ({ status })) } },
          testFiles: { 'test/a.test.ts': { source: '// a test\n' } },
        }),
      );
      const row = (table: string, group: string) => table.split('\n').find((line) => line.startsWith(`| ${group} |`));

      const { table, missing } = scoresTable(root);
      // 5 mutants: killed and timed out count as killed; the ignored one is not in the score (2 of 4).
      assert.equal(row(table, 'counted'), '| counted | `a.ts` | 5 | 2 | 1 | 1 | 1 | 50% | 40 | current |');
      assert.equal(row(table, 'unrun'), '| unrun | `b.ts` | | | | | | | 90 | missing |');
      assert.deepEqual(missing, ['unrun']);

      write('src/a.ts', 'export const a = 2;\n');
      assert.match(row(scoresTable(root).table, 'counted') ?? '', /\| stale \|$/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
