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

/** A page's headings (level, slug) outside code blocks, in order; a repeated slug gets -1, -2, … as on GitHub. */
function headingsOf(text: string): { level: number; slug: string }[] {
  const headings: { level: number; slug: string }[] = [];
  const seen = new Map<string, number>();
  let inCode = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const heading = /^(#{1,6}) (.+)$/.exec(line);
    if (!heading || inCode) continue;
    const slug = headingSlug(heading[2]!.trim());
    const repeats = seen.get(slug) ?? 0;
    seen.set(slug, repeats + 1);
    headings.push({ level: heading[1]!.length, slug: repeats ? `${slug}-${repeats}` : slug });
  }
  return headings;
}

/**
 * The contents list at the top of a page (the `- [Title](#anchor)` lines before its first
 * `## ` heading, nested by two spaces), as the anchors it names and the heading level it
 * goes down to; undefined when the page has none.
 */
function contentsOf(text: string): { anchors: Set<string>; depth: number } | undefined {
  const top = text.split('\n## ')[0] ?? '';
  const entries = [...top.matchAll(/^( *)- \[.*\]\(#([^)]+)\)$/gm)];
  if (entries.length === 0) return undefined;
  return {
    anchors: new Set(entries.map((entry) => entry[2]!)),
    depth: 2 + Math.max(...entries.map((entry) => entry[1]!.length / 2)),
  };
}

function anchorsOf(file: string): Set<string> {
  return new Set(headingsOf(readFileSync(file, 'utf8')).map((heading) => heading.slug));
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

  it("lists every heading in a page's contents, down to the contents' own depth", () => {
    const unlisted: string[] = [];
    for (const page of pages) {
      const text = readFileSync(path.join(ROOT, page), 'utf8');
      const contents = contentsOf(text);
      if (!contents) continue;
      for (const { level, slug } of headingsOf(text)) {
        if (level >= 2 && level <= contents.depth && !contents.anchors.has(slug)) unlisted.push(`${page}: #${slug}`);
      }
    }
    assert.deepEqual(unlisted, []);
  });

  it('reads a contents list and its depth', () => {
    const page =
      '# T\n\n- [A](#a)\n  - [B c](#b-c)\n\n## A\n\n### B c\n\n#### D\n\n```\n## not a heading\n```\n\n## A\n';
    assert.deepEqual(contentsOf(page), { anchors: new Set(['a', 'b-c']), depth: 3 });
    assert.deepEqual(
      headingsOf(page).map((h) => h.slug),
      ['t', 'a', 'b-c', 'd', 'a-1'],
    );
    assert.equal(contentsOf('# T\n\nSee [A](#a) below.\n\n## A\n'), undefined);
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
