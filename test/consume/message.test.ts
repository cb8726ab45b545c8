import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EXCERPT_LENGTH, excerpt, MAX_FIELD_LENGTH, parseSyncMessage } from '../../src/consume/message.ts';
import { PermanentError } from '../../src/errors.ts';
import { PROVIDER_TYPES } from '../../src/providers/types.ts';
import { triggerOf } from '../../src/sync/types.ts';

const valid = {
  eventUid: 'clx1event',
  externalEventId: 'evt-abc123',
  locationUid: 'clx1loc',
  providerType: 'LUMA',
  scheduledFor: '2031-06-01T03:00:00.000Z',
};

function rejects(body: string | undefined, kind: string, reason: RegExp) {
  assert.throws(
    () => parseSyncMessage(body),
    (err: unknown) => {
      assert.ok(err instanceof PermanentError, 'a PermanentError');
      assert.equal(err.kind, kind);
      assert.match(err.message, reason);
      return true;
    },
  );
}

describe('parseSyncMessage', () => {
  it('returns the known fields of a valid message and ignores the rest', () => {
    assert.deepEqual(parseSyncMessage(JSON.stringify({ ...valid, extra: 1 })), valid);
    const { scheduledFor: _, ...manual } = valid;
    assert.deepEqual(parseSyncMessage(JSON.stringify(manual)), manual, 'scheduledFor is optional');
  });

  it('keeps a known trigger, and accepts messages written before the field existed', () => {
    for (const trigger of ['schedule', 'tier', 'webhook', 'manual']) {
      assert.equal(parseSyncMessage(JSON.stringify({ ...valid, trigger })).trigger, trigger);
    }
    assert.equal(parseSyncMessage(JSON.stringify(valid)).trigger, undefined);
    assert.equal(triggerOf(parseSyncMessage(JSON.stringify(valid))), 'schedule', 'an old slot message: the daily pass');
    const { scheduledFor: _, ...byHand } = valid;
    assert.equal(triggerOf(parseSyncMessage(JSON.stringify(byHand))), 'manual', 'an old message without a slot');
    rejects(JSON.stringify({ ...valid, trigger: 'cron' }), 'bad_message', /trigger "cron" is unknown; expected one of/);
    rejects(JSON.stringify({ ...valid, trigger: 7 }), 'bad_message', /trigger is a number; expected one of/);
  });

  it('rejects bodies that are not a JSON object', () => {
    rejects(undefined, 'bad_message', /body is empty/);
    rejects('', 'bad_message', /body is empty/);
    rejects(
      'not json at all',
      'bad_message',
      /body is not JSON; expected a JSON object \(body starts "not json at all"\)/,
    );
    rejects('[1,2]', 'bad_message', /body is JSON an array; expected a JSON object/);
    rejects('"text"', 'bad_message', /body is JSON a string/);
    rejects('null', 'bad_message', /body is JSON null/);
  });

  it('names the field and what was expected', () => {
    const { eventUid: _, ...noEvent } = valid;
    rejects(JSON.stringify(noEvent), 'bad_message', /eventUid is missing; expected a non-empty string/);
    rejects(JSON.stringify({ ...valid, locationUid: 42 }), 'bad_message', /locationUid is a number; expected/);
    rejects(JSON.stringify({ ...valid, externalEventId: ' ' }), 'bad_message', /externalEventId is blank/);
    rejects(
      JSON.stringify({ ...valid, eventUid: 'x'.repeat(MAX_FIELD_LENGTH + 1) }),
      'bad_message',
      new RegExp(`eventUid is ${MAX_FIELD_LENGTH + 1} characters long; expected at most ${MAX_FIELD_LENGTH}`),
    );
    rejects(
      JSON.stringify({ ...valid, providerType: null }),
      'bad_message',
      /providerType is null; expected one of LUMA/,
    );
    rejects(
      JSON.stringify({ ...valid, scheduledFor: 'yesterday' }),
      'bad_message',
      /scheduledFor is a string; expected an ISO-8601/,
    );
    rejects(JSON.stringify({ ...valid, scheduledFor: '2031-13-45T99:00:00Z' }), 'bad_message', /scheduledFor/);
  });

  it('reports an unknown provider under its own kind', () => {
    rejects(JSON.stringify({ ...valid, providerType: 'EVENTBRITE' }), 'unknown_provider', /"EVENTBRITE" is unknown/);
  });

  it('never quotes more than about 100 characters of the body', () => {
    const huge = `{${'x'.repeat(100_000)}`;
    assert.throws(
      () => parseSyncMessage(huge),
      (err: Error) => err.message.length < 250,
    );
    const longProvider = JSON.stringify({ ...valid, providerType: 'P'.repeat(10_000) });
    assert.throws(
      () => parseSyncMessage(longProvider),
      (err: Error) => err.message.length < 200,
    );
  });

  it('either returns a valid SyncMessage or throws a PermanentError, for any input (property)', () => {
    const field = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.constantFrom('', ' ', 'x'.repeat(MAX_FIELD_LENGTH), 'x'.repeat(MAX_FIELD_LENGTH + 1)),
      fc.jsonValue(),
    );
    const messageLike = fc.record(
      {
        eventUid: field,
        externalEventId: field,
        locationUid: field,
        providerType: fc.oneof(fc.constantFrom(...PROVIDER_TYPES, 'luma', ''), fc.jsonValue()),
        scheduledFor: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.string(),
          fc.jsonValue(),
        ),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.json(),
      messageLike.map((m) => JSON.stringify(m)),
      fc.constant(undefined),
    );
    fc.assert(
      fc.property(body, (input) => {
        let parsed: ReturnType<typeof parseSyncMessage>;
        try {
          parsed = parseSyncMessage(input);
        } catch (err) {
          assert.ok(err instanceof PermanentError, `threw ${String(err)}`);
          assert.ok(['bad_message', 'unknown_provider'].includes(err.kind));
          assert.ok(err.message.length < 400, 'reason stays short');
          return;
        }
        for (const key of ['eventUid', 'externalEventId', 'locationUid'] as const) {
          assert.equal(typeof parsed[key], 'string');
          assert.ok(parsed[key].trim().length > 0 && parsed[key].length <= MAX_FIELD_LENGTH);
        }
        assert.ok((PROVIDER_TYPES as readonly string[]).includes(parsed.providerType));
        if (parsed.scheduledFor !== undefined) assert.ok(!Number.isNaN(Date.parse(parsed.scheduledFor)));
      }),
      { numRuns: 2_000 },
    );
  });

  it('returns every well-formed message unchanged (property)', () => {
    const id = fc.string({ minLength: 1, maxLength: MAX_FIELD_LENGTH }).filter((t) => t.trim() !== '');
    const message = fc.record(
      {
        eventUid: id,
        externalEventId: id,
        locationUid: id,
        providerType: fc.constantFrom(...PROVIDER_TYPES),
        scheduledFor: fc
          .date({ min: new Date('2000-01-01Z'), max: new Date('2999-12-31Z'), noInvalidDate: true })
          .map((d) => d.toISOString()),
      },
      { requiredKeys: ['eventUid', 'externalEventId', 'locationUid', 'providerType'] },
    );
    fc.assert(fc.property(message, (m) => assert.deepEqual(parseSyncMessage(JSON.stringify(m)), { ...m })));
  });

  it('takes scheduledFor as Date.toISOString() writes it, milliseconds optional, and nothing else Date.parse would take', () => {
    for (const scheduledFor of ['2031-06-01T03:00:00Z', '2031-06-01T03:00:00.5Z', '2031-06-01T03:00:00.000Z']) {
      assert.equal(parseSyncMessage(JSON.stringify({ ...valid, scheduledFor })).scheduledFor, scheduledFor);
    }
    // Each of these is a date to Date.parse; none is the UTC instant a slot is written as.
    for (const scheduledFor of [
      '2031-06-01',
      'June 1, 2031 03:00 UTC',
      '2031-06-01T03:00:00+02:00',
      '2031-06-01T03:00:00.1234Z',
      '+012031-06-01T03:00:00.000Z',
    ]) {
      rejects(
        JSON.stringify({ ...valid, scheduledFor }),
        'bad_message',
        /scheduledFor is a string; expected an ISO-8601/,
      );
    }
    // Not a string, though its text is an instant.
    rejects(
      JSON.stringify({ ...valid, scheduledFor: ['2031-06-01T03:00:00Z'] }),
      'bad_message',
      /scheduledFor is an array; expected an ISO-8601/,
    );
  });

  it('takes a null scheduledFor or trigger as absent, as an older producer writes them', () => {
    const parsed = parseSyncMessage(JSON.stringify({ ...valid, scheduledFor: null, trigger: null }));
    const { scheduledFor: _, ...rest } = valid;
    assert.deepEqual(parsed, rest);
  });

  it('calls a blank providerType a malformed message, not an unknown provider', () => {
    rejects(
      JSON.stringify({ ...valid, providerType: '  ' }),
      'bad_message',
      /providerType is a string; expected one of/,
    );
    rejects(JSON.stringify({ ...valid, providerType: '' }), 'bad_message', /providerType is an empty string/);
  });

  it('takes an id of exactly the longest accepted length', () => {
    const id = 'x'.repeat(MAX_FIELD_LENGTH);
    assert.equal(parseSyncMessage(JSON.stringify({ ...valid, locationUid: id })).locationUid, id);
  });
});

describe('excerpt', () => {
  it('quotes a short text whole, and cuts a longer one at the limit with an ellipsis', () => {
    assert.equal(excerpt('x'.repeat(EXCERPT_LENGTH)), 'x'.repeat(EXCERPT_LENGTH));
    assert.equal(excerpt('x'.repeat(EXCERPT_LENGTH + 1)), `${'x'.repeat(EXCERPT_LENGTH)}…`);
    assert.equal(excerpt('abcdef', 3), 'abc…');
  });

  it('replaces control characters, so a body cannot forge log lines', () => {
    assert.equal(excerpt('a\nb\u0000c\u007fd\te'), 'a?b?c?d?e');
  });

  it('gives an empty text for a missing body', () => {
    assert.equal(excerpt(undefined), '');
  });
});
