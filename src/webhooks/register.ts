import type { Got } from 'got';

/** The guest deliveries the receiver acts on (see delivery.ts). */
export const WEBHOOK_EVENT_TYPES = ['guest.registered', 'guest.updated'];
/** Pages of /v1/webhooks/list read at most: a calendar has a handful of webhooks. */
const MAX_LIST_PAGES = 50;

export interface RegisteredWebhook {
  id: string;
  url: string;
  event_types: string[];
  status: string;
  /** The whsec_ secret to store as LUMA_WEBHOOK_SECRET. */
  secret: string;
  /** True when a webhook for this URL already existed and was reused. */
  reused: boolean;
}

export class WebhookRegistrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookRegistrationError';
  }
}

/**
 * Creates the calendar's webhook for `url` through Luma's API, or reuses the one that
 * already exists for it (found with /v1/webhooks/list), so running it twice creates one
 * webhook. `http` is createLumaClient's got instance: the key travels in its header
 * only, and errors never quote it.
 */
export async function registerWebhook(http: Got, url: string): Promise<RegisteredWebhook> {
  let cursor: string | undefined;
  for (let page = 1; page <= MAX_LIST_PAGES; page++) {
    const listed = await call(http, 'GET', 'v1/webhooks/list', {
      searchParams: { pagination_limit: '50', ...(cursor ? { pagination_cursor: cursor } : {}) },
    });
    const entries = Array.isArray(listed.entries) ? (listed.entries as Record<string, unknown>[]) : [];
    const existing = entries.find((entry) => entry.url === url);
    if (existing) return { ...asWebhook(existing), reused: true };
    if (!listed.has_more || typeof listed.next_cursor !== 'string') break;
    cursor = listed.next_cursor;
  }
  const created = await call(http, 'POST', 'v2/webhooks/create', {
    json: { url, event_types: WEBHOOK_EVENT_TYPES },
  });
  return { ...asWebhook(created), reused: false };
}

async function call(
  http: Got,
  method: 'GET' | 'POST',
  path: string,
  options: { searchParams?: Record<string, string>; json?: unknown },
): Promise<Record<string, unknown>> {
  const response = await http(path, { method, ...options });
  const body = String(response.body);
  if (response.statusCode === 401 || response.statusCode === 403) {
    throw new WebhookRegistrationError(
      `Luma refused ${method} /${path} (${response.statusCode}): check LUMA_API_KEY; webhooks also need a Luma Plus calendar`,
    );
  }
  if (response.statusCode < 200 || response.statusCode >= 300) {
    throw new WebhookRegistrationError(
      `Luma answered ${method} /${path} with ${response.statusCode}: ${body.slice(0, 200).replace(/\s+/g, ' ')}`,
    );
  }
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {}
  throw new WebhookRegistrationError(`Luma answered ${method} /${path} with something that is not a JSON object`);
}

function asWebhook(entry: Record<string, unknown>): Omit<RegisteredWebhook, 'reused'> {
  if (typeof entry.id !== 'string' || typeof entry.secret !== 'string') {
    throw new WebhookRegistrationError('Luma returned a webhook without an id or a secret');
  }
  return {
    id: entry.id,
    url: String(entry.url ?? ''),
    event_types: Array.isArray(entry.event_types) ? entry.event_types.map(String) : [],
    status: String(entry.status ?? ''),
    secret: entry.secret,
  };
}
