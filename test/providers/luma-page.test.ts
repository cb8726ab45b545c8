import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { errorKind } from '../../src/errors.ts';
import { LumaError, parseGuestPage } from '../../src/providers/luma-page.ts';

const ctx = { eventUid: 'evt-uid-7', page: 3 };

function page(entries: unknown[], extra: Record<string, unknown> = {}) {
  return { entries, has_more: false, ...extra };
}

function failureOf(body: unknown): LumaError {
  try {
    parseGuestPage(body, ctx);
  } catch (err) {
    assert.ok(err instanceof LumaError, `expected a LumaError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected parseGuestPage to throw');
}

describe('parseGuestPage', () => {
  it('reads wrapped legacy entries with the old field names', () => {
    const result = parseGuestPage(
      page([
        {
          api_id: 'gst-outer',
          guest: { api_id: 'gst-1', email: ' Ada@Example.COM ', name: 'Ada', approval_status: 'approved' },
        },
      ]),
      ctx,
    );
    assert.deepEqual(result.guests, [
      {
        externalGuestId: 'gst-1',
        email: 'ada@example.com',
        name: 'Ada',
        approvalStatus: 'approved',
        registeredAt: null,
      },
    ]);
    assert.equal(result.skipped, 0);
  });

  it('reads flat current entries with the new field names', () => {
    const result = parseGuestPage(
      JSON.stringify(
        page(
          [
            {
              id: 'gst-2',
              user_email: 'grace@example.com',
              user_name: null,
              user_first_name: 'Grace',
              user_last_name: 'Hopper',
              approval_status: 'approved',
              registered_at: '2026-05-01T10:00:00.000Z',
            },
          ],
          { has_more: true, next_cursor: 'cur-2' },
        ),
      ),
      ctx,
    );
    assert.deepEqual(result, {
      guests: [
        {
          externalGuestId: 'gst-2',
          email: 'grace@example.com',
          name: 'Grace Hopper',
          approvalStatus: 'approved',
          registeredAt: '2026-05-01T10:00:00.000Z',
        },
      ],
      skipped: 0,
      skippedGuestIds: [],
      hasMore: true,
      nextCursor: 'cur-2',
    });
  });

  it('mixes both shapes and both name sets on one page, preferring the new names', () => {
    const { guests } = parseGuestPage(
      page([
        { api_id: 'gst-outer-only', guest: { user_email: 'a@x.io', user_name: 'A' } },
        { guest: { id: 'gst-new', api_id: 'gst-old', email: 'old@x.io', user_email: 'new@x.io' } },
        { api_id: 'gst-flat-old', email: 'flat@x.io', user_first_name: 'Only' },
        { id: 'gst-last', user_email: 'l@x.io', user_last_name: 'Lastname' },
      ]),
      ctx,
    );
    assert.deepEqual(
      guests.map((g) => [g.externalGuestId, g.email, g.name]),
      [
        ['gst-outer-only', 'a@x.io', 'A'],
        ['gst-new', 'new@x.io', null],
        ['gst-flat-old', 'flat@x.io', 'Only'],
        ['gst-last', 'l@x.io', 'Lastname'],
      ],
    );
  });

  it('skips and counts entries without a usable id or email', () => {
    const bad = [
      null,
      'gst-1',
      [],
      { user_email: 'no-id@x.io' },
      { id: '', user_email: 'empty-id@x.io' },
      { id: 42, user_email: 'numeric-id@x.io' },
      { id: 'gst a', user_email: 'space-in-id@x.io' },
      { id: 'x'.repeat(256), user_email: 'long-id@x.io' },
      { id: 'gst-3' },
      { id: 'gst-4', user_email: '' },
      { id: 'gst-5', user_email: 'no-at-sign' },
      { id: 'gst-6', user_email: '@x.io' },
      { id: 'gst-7', user_email: 'ctl\u0000@x.io' },
      { id: 'gst-8', user_email: `${'a'.repeat(320)}@x.io` },
      { id: 'gst-9', user_email: { value: 'obj@x.io' } },
      { id: 'gst-10', user_email: 'two words@x.io' },
      { id: 'gst-\u0007', user_email: 'bell@x.io' },
    ];
    const good = { id: 'gst-ok', user_email: 'ok@x.io' };
    const result = parseGuestPage(page([...bad, good]), ctx);
    assert.equal(result.skipped, bad.length);
    assert.deepEqual(
      result.guests.map((g) => g.externalGuestId),
      ['gst-ok'],
    );
    // An entry with a usable id but no usable email still names its guest (stale removal keeps its row).
    assert.deepEqual(result.skippedGuestIds, ['gst-3', 'gst-4', 'gst-5', 'gst-6', 'gst-7', 'gst-8', 'gst-9', 'gst-10']);
  });

  it('bounds and cleans the other strings', () => {
    const [guest] = parseGuestPage(
      page([
        {
          id: 'gst-1',
          user_email: 'a@x.io',
          user_name: `Line\u0000Break ${'n'.repeat(1000)}`,
          approval_status: 's'.repeat(65),
          registered_at: 'yesterday',
        },
      ]),
      ctx,
    ).guests;
    assert.ok(guest);
    assert.equal(guest.name?.length, 500);
    assert.ok(guest.name?.startsWith('Line Break '));
    assert.equal(guest.approvalStatus, 'unknown');
    assert.equal(guest.registeredAt, null);
  });

  it('does not split a surrogate pair when truncating a name', () => {
    const [guest] = parseGuestPage(
      page([{ id: 'g', user_email: 'a@x.io', user_name: `${'a'.repeat(499)}😀tail` }]),
      ctx,
    ).guests;
    assert.equal(guest?.name, 'a'.repeat(499));
  });

  it('treats an absent or empty next_cursor as none', () => {
    assert.equal(parseGuestPage(page([]), ctx).nextCursor, null);
    assert.equal(parseGuestPage(page([], { next_cursor: '' }), ctx).nextCursor, null);
    assert.equal(parseGuestPage(page([], { next_cursor: null }), ctx).nextCursor, null);
  });

  const unusable: Array<[string, unknown, RegExp]> = [
    ['a body that is not JSON', '{"entries": [', /not valid JSON/],
    ['an HTML error page', '<!DOCTYPE html><html><body>502 Bad Gateway</body></html>', /HTML/],
    ['an empty body', '  ', /empty/],
    ['a JSON array', '[]', /an array, not an object/],
    ['JSON null', 'null', /null, not an object/],
    ['a number', 42, /a number, not an object/],
    ['missing entries', { has_more: false }, /"entries" is missing/],
    ['entries that are not an array', { entries: {}, has_more: false }, /"entries" is an object/],
    ['missing has_more', { entries: [] }, /"has_more" is missing/],
    ['a has_more that is a string', { entries: [], has_more: 'false' }, /"has_more" is a string/],
    ['a numeric next_cursor', { entries: [], has_more: true, next_cursor: 5 }, /"next_cursor" is a number/],
    ['a next_cursor with control characters', { entries: [], has_more: true, next_cursor: 'a\nb' }, /malformed/],
  ];
  for (const [what, body, reason] of unusable) {
    it(`rejects ${what}, naming the event and page`, () => {
      const err = failureOf(body);
      assert.equal(err.kind, 'luma_invalid_response');
      assert.equal(errorKind(err), 'luma_invalid_response');
      assert.match(err.message, /event evt-uid-7, page 3/);
      assert.match(err.message, reason);
    });
  }

  it('never quotes the body in its message', () => {
    const body = `<html>${'SECRET-BODY '.repeat(50)}</html>`;
    const err = failureOf(body);
    assert.ok(!err.message.includes('SECRET-BODY'));
    const notJson = failureOf(`{"token": "SECRET-BODY" ${'x'.repeat(500)}`);
    assert.ok(!notJson.message.includes('SECRET-BODY'));
    assert.ok(notJson.message.length < 200);
  });

  it('parses a page of 50,000 guests whole, keeping order and normalising every email', () => {
    // How fast is a figure for `npm run bench`, not an assertion here.
    const entries = Array.from({ length: 50_000 }, (_, i) => ({
      api_id: `gst-${i}`,
      guest: { api_id: `gst-${i}`, email: `Guest${i}@Example.com`, name: `Guest ${i}`, approval_status: 'approved' },
    }));
    const result = parseGuestPage(JSON.stringify(page(entries)), ctx);
    assert.equal(result.guests.length, 50_000);
    assert.equal(result.skipped, 0);
    assert.deepEqual(result.guests[49_999], {
      externalGuestId: 'gst-49999',
      email: 'guest49999@example.com',
      name: 'Guest 49999',
      approvalStatus: 'approved',
      registeredAt: null,
    });
    assert.ok(result.guests.every((g, i) => g.externalGuestId === `gst-${i}` && g.email === `guest${i}@example.com`));
  });

  describe('on arbitrary input', () => {
    const field = fc.oneof(
      fc.string(),
      fc.emailAddress(),
      fc.constantFrom('', ' ', '@', 'a@b', ' A@B.C ', 'gst-1', '\u0000', 'x@y\u0085'),
      fc.jsonValue(),
    );
    const guest = fc.record(
      {
        id: field,
        api_id: field,
        user_email: field,
        email: field,
        user_name: field,
        user_first_name: field,
        user_last_name: field,
        name: field,
        approval_status: field,
        registered_at: fc.oneof(
          field,
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        ),
      },
      { requiredKeys: [] },
    );
    const entry = fc.oneof(guest, fc.record({ api_id: field, guest: fc.oneof(guest, field) }, { requiredKeys: [] }));
    const pageLike = fc.record(
      {
        entries: fc.oneof(fc.array(entry, { maxLength: 8 }), field),
        has_more: fc.oneof(fc.boolean(), field),
        next_cursor: fc.oneof(fc.string(), field),
      },
      { requiredKeys: [] },
    );
    const anyBody = fc.oneof(
      pageLike,
      pageLike.map((p) => JSON.stringify(p)),
      fc.jsonValue(),
      fc.string(),
    );

    it('throws nothing but the documented error, and returns only guests with an id and an email', () => {
      fc.assert(
        fc.property(anyBody, (body) => {
          let result: ReturnType<typeof parseGuestPage>;
          try {
            result = parseGuestPage(body, ctx);
          } catch (err) {
            assert.ok(err instanceof LumaError);
            assert.equal(err.kind, 'luma_invalid_response');
            assert.match(err.message, /event evt-uid-7, page 3/);
            assert.ok(err.message.length < 250);
            return;
          }
          assert.equal(typeof result.hasMore, 'boolean');
          assert.ok(result.nextCursor === null || (typeof result.nextCursor === 'string' && result.nextCursor !== ''));
          for (const g of result.guests) {
            assert.equal(typeof g.externalGuestId, 'string');
            assert.ok(g.externalGuestId.length > 0 && g.externalGuestId.length <= 255);
            assert.ok(g.email.length >= 3 && g.email.length <= 320);
            assert.ok(g.email.indexOf('@') > 0);
            assert.equal(g.email, g.email.trim().toLowerCase());
            assert.ok(!/\p{Cc}/u.test(g.email + g.externalGuestId));
            assert.ok(g.name === null || (g.name.length > 0 && g.name.length <= 500));
            assert.equal(typeof g.approvalStatus, 'string');
          }
        }),
        { numRuns: 2_000 },
      );
    });
  });
});

describe('parseGuestPage at the bounds of each field', () => {
  const guestOf = (entry: Record<string, unknown>) => {
    const result = parseGuestPage(page([{ id: 'gst-1', user_email: 'a@x.io', ...entry }]), ctx);
    return result.guests[0] ?? (result.skippedGuestIds[0] !== undefined ? 'skipped' : 'unidentified');
  };
  const nameOf = (name: string) => {
    const guest = guestOf({ user_name: name });
    assert.ok(typeof guest === 'object');
    return guest.name;
  };

  it('accepts a next_cursor of up to 2048 characters and rejects a longer one', () => {
    const cursor = 'c'.repeat(2048);
    assert.equal(parseGuestPage(page([], { has_more: true, next_cursor: cursor }), ctx).nextCursor, cursor);
    assert.match(failureOf(page([], { has_more: true, next_cursor: `${cursor}c` })).message, /malformed/);
  });

  it('trims an id and keeps one of up to 255 characters', () => {
    assert.equal((guestOf({ id: '  gst-padded\t' }) as { externalGuestId: string }).externalGuestId, 'gst-padded');
    const longest = 'i'.repeat(255);
    assert.equal((guestOf({ id: longest }) as { externalGuestId: string }).externalGuestId, longest);
  });

  it('keeps the shortest and the longest usable emails, and skips one ending in its @', () => {
    assert.equal((guestOf({ user_email: 'a@b' }) as { email: string }).email, 'a@b');
    const longest = `${'a'.repeat(315)}@x.io`;
    assert.equal(longest.length, 320);
    assert.equal((guestOf({ user_email: longest }) as { email: string }).email, longest);
    assert.equal(guestOf({ user_email: 'name@' }), 'skipped');
    assert.equal(guestOf({ user_email: 'ab@' }), 'skipped');
  });

  it('keeps an approval status of up to 64 characters, and reads an empty one as unknown', () => {
    const longest = 's'.repeat(64);
    assert.equal((guestOf({ approval_status: longest }) as { approvalStatus: string }).approvalStatus, longest);
    assert.equal((guestOf({ approval_status: '' }) as { approvalStatus: string }).approvalStatus, 'unknown');
  });

  it('keeps registered_at only when it starts with a full ISO date that parses', () => {
    const at = (value: string) => (guestOf({ registered_at: value }) as { registeredAt: string | null }).registeredAt;
    assert.equal(at('2031-06-01T12:00:00Z'), '2031-06-01T12:00:00Z');
    assert.equal(at('2031-06-01'), '2031-06-01');
    // Each of these is a date JavaScript parses, but none starts with YYYY-MM-DD.
    for (const value of [' 2031-06-01', 'on 2031-06-01', '2031-06-1', '2031-6-01', 'Sun, 01 Jun 2031 12:00:00 GMT']) {
      assert.ok(!Number.isNaN(Date.parse(value)), value);
      assert.equal(at(value), null, JSON.stringify(value));
    }
    assert.equal(at('2031-13-45T00:00:00Z'), null);
  });

  it('trims a name, and trims the end a cut leaves', () => {
    assert.equal(nameOf('  Ann Lee \n'), 'Ann Lee');
    assert.equal(nameOf(`${'a'.repeat(498)}  bcd`), 'a'.repeat(498));
  });

  it('keeps a name of exactly 500 characters whole', () => {
    assert.equal(nameOf('n'.repeat(500)), 'n'.repeat(500));
  });

  it('cuts before a surrogate pair at the 500th character, whichever high surrogate starts it, and only then', () => {
    for (const pair of ['\ud800\udc00', '\udbff\udfff']) {
      assert.equal(nameOf(`${'a'.repeat(499)}${pair}tail`), 'a'.repeat(499), JSON.stringify(pair));
    }
    // Characters outside the high-surrogate range are single units: cut at 500.
    for (const single of ['\ud7ff', '\uff21']) {
      assert.equal(nameOf(`${'a'.repeat(499)}${single}tail`), `${'a'.repeat(499)}${single}`, JSON.stringify(single));
    }
  });

  it('recognises an HTML page behind leading whitespace', () => {
    assert.match(failureOf('\n  <!DOCTYPE html><html></html>').message, /HTML or XML page/);
  });
});
