import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { DatabaseUrlError, parseDatabaseUrl } from '../../src/db/database-url.ts';
import { runCliProcess } from '../support/cli-process.ts';

/** Issue 21 §3: a DATABASE_URL cannot smuggle a setting or leak a password. */
const refusal = (url: string): string => {
  try {
    parseDatabaseUrl(url);
  } catch (err) {
    assert.ok(err instanceof DatabaseUrlError, String(err));
    return err.message;
  }
  assert.fail(`accepted: ${url}`);
};

/** Every piece of the password longer than two characters, none of which may be printed. */
const pieces = (password: string) => password.split(/[@:/?#&]/).filter((piece) => piece.length > 2);

describe('a hostile or mistyped DATABASE_URL', () => {
  it('an unencoded "@" in the password is refused, saying to percent-encode, printing no part of it', () => {
    for (const password of ['p@ss:dor&3', 'dor&3@db', 'x@y@z-pw']) {
      const message = refusal(`postgres://lgs:${password}@db.internal:5432/directory`);
      assert.match(message, /percent-encode/);
      assert.match(message, /%40/);
      for (const piece of pieces(password)) assert.ok(!message.includes(piece), `${piece} in: ${message}`);
    }
    // Encoded, it is the password.
    assert.equal(parseDatabaseUrl('postgres://lgs:p%40ss@db.internal/directory').password, 'p@ss');
  });

  it('a "/" or "?" in the password never becomes a database name or parameter that is printed', () => {
    for (const password of ['top/secret@x', 'top?secret-x']) {
      let message = '';
      try {
        parseDatabaseUrl(`postgres://lgs:${password}@db.internal/directory`);
      } catch (err) {
        message = (err as Error).message;
      }
      for (const piece of pieces(password)) assert.ok(!message.includes(piece), `${piece} in: ${message}`);
    }
    // libpq reads "?" in the user information as part of the password; so does the worker.
    assert.equal(parseDatabaseUrl('postgres://lgs:top?secret@db.internal/directory').password, 'top?secret');
  });

  it('a control character (%00 and the like) is refused in every value, naming the part', () => {
    assert.match(
      refusal('postgres://lgs:pw@h/d?application_name=lgs%00search_path%00evil_schema'),
      /parameter "application_name" holds a control character/,
    );
    assert.match(refusal('postgres://lgs:p%0Aw@h/d'), /the password holds a control character/);
    assert.match(refusal('postgres://lgs:pw@h/d%7F'), /the database name holds a control character/);
    assert.match(
      refusal('postgres://lgs:pw@h/d?options=-c%20x%3Dy%1B'),
      /parameter "options" holds a control character/,
    );
  });

  it('connect_timeout=0 (libpq: wait forever) is refused, saying why', () => {
    assert.match(refusal('postgres://h/d?connect_timeout=0'), /connect_timeout=0.*never/);
  });

  it('db:migrate refuses such a URL before its log line, printing no part of the password', async () => {
    const password = 'dor&3@db';
    const run = await runCliProcess(['db:migrate'], {
      DATABASE_URL: `postgres://lgs:${password}@db.internal/directory`,
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /DATABASE_URL: .*percent-encode/);
    for (const piece of pieces(password)) assert.ok(!(run.stdout + run.stderr).includes(piece));
  });
});

describe('LUMA_WEBHOOK_SECRET', () => {
  it('a secret whose base64 is malformed (whsec_abc) is refused at configuration time, naming the variable', () => {
    for (const secret of ['whsec_abc', 'whsec_', 'whsec_a===']) {
      assert.throws(
        () => loadConfig({ LUMA_WEBHOOK_SECRET: secret }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /LUMA_WEBHOOK_SECRET: .*base64/.test(err.message) &&
          !err.message.includes(secret.slice('whsec_'.length) || '\0'),
      );
    }
    assert.equal(
      loadConfig({ LUMA_WEBHOOK_SECRET: 'whsec_c2VjcmV0LWtleS0yNC1ieXRlcy1sb25nISE=' }).webhook.secret.length > 0,
      true,
    );
  });
});
