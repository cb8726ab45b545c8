import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PermanentError } from '../../src/errors.ts';
import { createProviderRegistry, getProvider } from '../../src/providers/registry.ts';
import type { GuestProvider } from '../../src/providers/types.ts';

function fakeProvider(configured: boolean): GuestProvider {
  return {
    providerType: 'LUMA',
    isConfigured: () => configured,
    fetchGuestsInBatches: async () => ({ pages: 0, fetched: 0, skipped: 0, unidentified: 0 }),
  };
}

function permanentKind(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PermanentError);
    return err.kind;
  }
  assert.fail('expected a PermanentError');
}

describe('provider registry', () => {
  it('finds a registered, configured provider by its type', () => {
    const luma = fakeProvider(true);
    assert.equal(getProvider(createProviderRegistry([luma]), 'LUMA'), luma);
  });

  it('fails permanently on a type nobody registered', () => {
    const registry = createProviderRegistry([fakeProvider(true)]);
    assert.equal(
      permanentKind(() => getProvider(registry, 'EVENTBRITE')),
      'unknown_provider',
    );
    assert.equal(
      permanentKind(() => getProvider(registry, 'toString')),
      'unknown_provider',
    );
    assert.equal(
      permanentKind(() => getProvider(createProviderRegistry([]), 'LUMA')),
      'unknown_provider',
    );
  });

  it('fails permanently when the provider lacks its configuration', () => {
    const registry = createProviderRegistry([fakeProvider(false)]);
    assert.equal(
      permanentKind(() => getProvider(registry, 'LUMA')),
      'provider_not_configured',
    );
  });

  it('does not echo an untrusted type at length', () => {
    const registry = createProviderRegistry([]);
    assert.throws(
      () => getProvider(registry, `X${'\n'.repeat(5)}${'y'.repeat(500)}`),
      (err: Error) => err.message.length < 120 && !err.message.includes('\n'),
    );
  });

  it('quotes an unknown type of up to 50 characters whole, cuts a longer one there, and shows unprintable characters as ?', () => {
    const registry = createProviderRegistry([]);
    const messageOf = (type: string) => {
      try {
        getProvider(registry, type);
      } catch (err) {
        return (err as Error).message;
      }
      assert.fail('expected getProvider to throw');
    };
    const fifty = `E${'v'.repeat(48)}~`;
    assert.ok(messageOf(fifty).includes(`"${fifty}"`));
    assert.ok(messageOf(`${fifty}TAIL`).includes(`"${fifty}…"`));
    assert.ok(messageOf('a\tb\u00e9 c\u007f').includes('"a?b? c?"'));
  });

  it('refuses two adapters for one provider', () => {
    assert.throws(() => createProviderRegistry([fakeProvider(true), fakeProvider(true)]), /registered twice/);
  });
});
