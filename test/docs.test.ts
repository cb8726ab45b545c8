/**
 * The README and docs/ as a reader follows them: every relative link leads to a file that
 * exists and every #anchor to a heading of that file (GitHub's slugs), every file of the
 * repository named in code (`src/…`, `test/…`) exists, and the README stays a first page,
 * not the manual.
 */
import assert from 'node:assert/strict';
import { existsSync, globSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pages = ['README.md', ...globSync('docs/*.md', { cwd: ROOT }).sort()];

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function headingSlug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replaceAll(' ', '-');
}

function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  let inCode = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const heading = /^#{1,6} (.+)$/.exec(line);
    if (heading && !inCode) anchors.add(headingSlug(heading[1]!.trim()));
  }
  return anchors;
}

/** Paths the docs name in code that are not this repository's files, on purpose. */
const NOT_OURS = new Set([
  'src/sync/event-lock.ts', // gone: claims.md names it as what the claim replaced
  'src/connection.js', // postgres.js's own file (driver-workarounds.md)
]);

/** Repository paths named inside `code spans`, e.g. `src/db/client.ts` or `test/faults/frozen-*.test.ts`. */
function pathsNamedIn(text: string): string[] {
  const named: string[] = [];
  for (const [, span] of text.matchAll(/`([^`\n]+)`/g)) {
    for (const [, repoPath] of span!.matchAll(
      /(?:^|[\s(=])((?:src|test|migrations|deploy|docs|\.ci)\/[\w./*-]*[\w*/])/g,
    )) {
      named.push(repoPath!);
    }
  }
  return named;
}

describe('the documentation', () => {
  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const page of pages) {
      const file = path.join(ROOT, page);
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^[a-z]+:/.test(target)) continue;
        const [where = '', anchor] = target.split('#', 2);
        const linked = where ? path.resolve(path.dirname(file), where) : file;
        if (!existsSync(linked)) broken.push(`${page}: ${target} (no such file)`);
        else if (anchor && linked.endsWith('.md') && !anchorsOf(linked).has(anchor)) {
          broken.push(`${page}: ${target} (no such heading)`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  it('names in code only files of the repository that exist', () => {
    const missing: string[] = [];
    for (const page of pages) {
      for (const named of pathsNamedIn(readFileSync(path.join(ROOT, page), 'utf8'))) {
        if (NOT_OURS.has(named)) continue;
        const exists = named.includes('*')
          ? globSync(named, { cwd: ROOT }).length > 0
          : existsSync(path.join(ROOT, named));
        if (!exists) missing.push(`${page}: ${named}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('finds the paths a page names in code, and only those', () => {
    assert.deepEqual(
      pathsNamedIn(
        '`src/config/config.ts` loads `npm test -- test/x.test.ts`, (`src/cli/`, `test/a-*.ts`); not src/y.ts',
      ),
      ['src/config/config.ts', 'test/x.test.ts', 'src/cli/', 'test/a-*.ts'],
    );
  });

  it('keeps the README a first page of at most 250 lines that starts with the two commands', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    assert.ok(readme.split('\n').length <= 250, `README.md has ${readme.split('\n').length} lines`);
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    assert.match(firstBlock, /npm run local/);
    assert.match(firstBlock, /npm test/);
  });

  it('makes the slugs GitHub makes', () => {
    assert.equal(
      headingSlug('Matching and writing, one statement per page (`src/sync/add-page-guests.ts`)'),
      'matching-and-writing-one-statement-per-page-srcsyncadd-page-gueststs',
    );
    assert.equal(headingSlug('1. Email-only matching'), '1-email-only-matching');
  });
});
