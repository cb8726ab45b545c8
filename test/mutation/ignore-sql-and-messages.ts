/**
 * A Stryker ignorer plugin: leaves out the mutants that only blank text nobody's
 * behaviour depends on, so the score measures logic.
 *
 * - SQL in `sql` tagged templates: Stryker's StringLiteral mutant replaces the whole
 *   statement with an empty one, which every test touching it kills trivially and which
 *   says nothing about the statement's logic. The SQL is mutated by hand instead, a clause
 *   at a time (test/mutation/sql-mutants.json, run by sql-mutants.ts).
 * - The message (constant text) of a log call: `log.info({…}, 'sync complete')`, also
 *   through an optional logger or method (`log?.debug(…)`, `deps.log?.warn(…)`,
 *   `log.debug?.(…)`: Babel's OptionalCallExpression and OptionalMemberExpression).
 * - The message of a thrown error: `new PermanentError('event_deleted', `…`)` keeps the
 *   kind (behaviour: it decides retry or poison) and leaves out the text.
 *
 * Stryker reports these as Ignored with the reason below, never as survivors.
 */
import { declareValuePlugin, PluginKind } from '@stryker-mutator/api/plugin';

/** The parts of Babel's NodePath this plugin reads (Stryker hands it a real one). */
interface Path {
  node: Node;
  parentPath: Path | null;
}
interface Node {
  type: string;
  name?: string;
  property?: Node;
  object?: Node;
  callee?: Node;
  tag?: Node;
  arguments?: Node[];
}

const LOG_METHODS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const isText = (node: Node | undefined) => node?.type === 'StringLiteral' || node?.type === 'TemplateLiteral';
/** `a.b` and `a?.b`; `f()` and the calls of an optional chain (`a?.b()`, `a.b?.()`). */
const isMember = (node: Node | undefined) =>
  node?.type === 'MemberExpression' || node?.type === 'OptionalMemberExpression';
const isCall = (node: Node | undefined) => node?.type === 'CallExpression' || node?.type === 'OptionalCallExpression';

function calleeName(node: Node | undefined): string | undefined {
  if (!node) return undefined;
  if (node.type === 'Identifier') return node.name;
  if (isMember(node)) return node.property?.name;
  return undefined;
}

export function ignoreReason(path: Path): string | undefined {
  const { node, parentPath } = path;
  const parent = parentPath?.node;
  if (!parent) return undefined;
  if (
    node.type === 'TemplateLiteral' &&
    parent.type === 'TaggedTemplateExpression' &&
    calleeName(parent.tag) === 'sql'
  ) {
    return 'SQL text: mutated clause by clause by test/mutation/sql-mutants.json';
  }
  if (!isText(node)) return undefined;
  const args = parent.arguments ?? [];
  const position = args.indexOf(node);
  if (position < 0) return undefined;
  if (isCall(parent) && isMember(parent.callee)) {
    const method = calleeName(parent.callee);
    if (method && LOG_METHODS.has(method) && position === args.length - 1 && position <= 1) return 'log message';
    if (method === 'raw' && calleeName(parent.callee?.object) === 'sql') return 'SQL text';
  }
  if (parent.type === 'NewExpression' && /Error$/.test(calleeName(parent.callee) ?? '')) {
    // (kind, message[, options]) or (message[, options]): the kind is behaviour, the message
    // is not. Decided by position and the second argument only: by the time Stryker visits
    // an argument, the ones before it may already be wrapped in its mutant switches.
    const second = args[1];
    const isMessage = position === 1 || (position === 0 && (!second || second.type === 'ObjectExpression'));
    if (isMessage) return 'error message';
  }
  return undefined;
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'sql-and-messages', {
    shouldIgnore: (path: object) => ignoreReason(path as Path),
  }),
];
