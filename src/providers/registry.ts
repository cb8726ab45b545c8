import { PermanentError } from '../errors.ts';
import { type GuestProvider, PROVIDER_TYPES, type ProviderType } from './types.ts';

/**
 * The providers this process can sync from, keyed by the directory's provider enum.
 * Adding a provider is one file exporting create<Name>Provider and one line in main.ts
 * passing it here.
 */
export type ProviderRegistry = Readonly<Partial<Record<ProviderType, GuestProvider>>>;

export function createProviderRegistry(providers: readonly GuestProvider[]): ProviderRegistry {
  const registry: Partial<Record<ProviderType, GuestProvider>> = {};
  for (const provider of providers) {
    // Two adapters for one provider is a wiring mistake; fail at startup, not mid-sync.
    if (registry[provider.providerType]) throw new Error(`Provider ${provider.providerType} is registered twice`);
    registry[provider.providerType] = provider;
  }
  return Object.freeze(registry);
}

/**
 * The provider for `type`, which comes from a queue message or a database row and so is
 * untrusted. Both failures are permanent: redelivering the message cannot fix them.
 */
export function getProvider(registry: ProviderRegistry, type: string): GuestProvider {
  const provider = isProviderType(type) ? registry[type] : undefined;
  if (!provider) throw new PermanentError('unknown_provider', `No guest provider is registered for "${bounded(type)}"`);
  if (!provider.isConfigured()) {
    throw new PermanentError('provider_not_configured', `The ${provider.providerType} provider is not configured`);
  }
  return provider;
}

function isProviderType(type: string): type is ProviderType {
  return (PROVIDER_TYPES as readonly string[]).includes(type);
}

function bounded(text: string): string {
  const printable = String(text).replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 50 ? `${printable.slice(0, 50)}…` : printable;
}
