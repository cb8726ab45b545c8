import { setTimeout as delay } from 'node:timers/promises';
import { type HttpHandler, HttpResponse, http } from 'msw';
import { createSimWebhooks, type SimDelivery, type SimWebhooks } from './luma-simulator-webhooks.ts';

/**
 * A simulated Luma guest-list API built from msw handlers: tests mount them with
 * setupServer, `npm run local` and benchmarks serve the very same handlers over real
 * HTTP with startLumaSimulator (luma-simulator-http.ts). It answers both endpoint generations in their own
 * shapes (../shared/spec/luma-api.md): the legacy path with wrapped entries and old
 * field names (`api_id`, `email`, `name`), the current path with flat entries (`id`,
 * `user_email`, `user_name`, …).
 */

/** One guest of the simulated store, independent of the endpoint shape. */
export interface SimGuest {
  id: string;
  email: string;
  name?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  /** Defaults to "approved". */
  approvalStatus?: string;
  registeredAt?: string | null;
}

/** A list made on demand, so a million-guest event costs no memory. */
export interface GeneratedGuestList {
  guestCount: number;
  /** Guest number `index` (0-based); deterministic. Defaults to simGuest(eventId, index). */
  guest?: (index: number) => SimGuest;
}

export type SimGuestList = readonly SimGuest[] | GeneratedGuestList;

export interface LumaSimulatorOptions {
  /** Guest lists by Luma event id; other event ids are answered 404. */
  events: Record<string, SimGuestList>;
  /** The only key accepted; anything else is answered 401. */
  apiKey?: string;
  /** The largest page served whatever pagination_limit asks for. Default 100. */
  maxPageSize?: number;
  /** Page size when pagination_limit is absent. Default 50. */
  defaultPageSize?: number;
  /** Delay before answering, per page number (1-based). */
  latencyMs?: number | ((pageNo: number) => number);
  /** Requests allowed per window; over it, 429 until the block ends (Luma blocks for a minute). */
  rateLimit?: { requests: number; windowMs?: number; blockMs?: number };
  /** Told of every request as it arrives, before any latency. */
  onRequest?: (request: Request, pageNo: number) => void;
  /** Consulted for every request; a Response it returns is served as is, after the latency. */
  fault?: (request: Request, pageNo: number) => Response | undefined | Promise<Response | undefined>;
  /** Wall clock for the rate limit. */
  now?: () => number;
}

export interface LumaSimulatorStats {
  requests: number;
  /** 429 answers served. */
  rateLimited: number;
  pagesServed: number;
  guestsServed: number;
  byPath: { legacy: number; current: number };
}

export type LumaHandlers = HttpHandler[] & {
  readonly stats: LumaSimulatorStats;
  /** Its webhooks: those registered through the API, and the deliveries sent. */
  readonly webhooks: SimWebhooks;
  /**
   * A guest registers: added to the event's list (which must be an array) and announced
   * to the webhooks with a signed guest.registered delivery. Resolves once delivered.
   */
  registerGuest(eventId: string, guest: SimGuest): Promise<SimDelivery[]>;
};

export const SIM_API_KEY = 'sim-luma-api-key';
export const LEGACY_GUESTS_PATH = '/v1/event/get-guests';
export const CURRENT_GUESTS_PATH = '/v1/events/guests/list';

/** The default generated guest: stable id and email per event and index. */
export function simGuest(eventId: string, index: number): SimGuest {
  return {
    id: `gst-${eventId}-${index}`,
    email: `guest${index}@example.com`,
    name: `Guest ${index}`,
    approvalStatus: 'approved',
    registeredAt: new Date(Date.UTC(2026, 0, 1) + index * 1000).toISOString(),
  };
}

export function createLumaHandlers(opts: LumaSimulatorOptions): LumaHandlers {
  const apiKey = opts.apiKey ?? SIM_API_KEY;
  const maxPageSize = opts.maxPageSize ?? 100;
  const now = opts.now ?? Date.now;
  const stats: LumaSimulatorStats = {
    requests: 0,
    rateLimited: 0,
    pagesServed: 0,
    guestsServed: 0,
    byPath: { legacy: 0, current: 0 },
  };
  const limit = opts.rateLimit;
  let windowStart = Number.NEGATIVE_INFINITY;
  let used = 0;
  let blockedUntil = Number.NEGATIVE_INFINITY;

  /** A 429 when over the limit, else the X-RateLimit headers for a normal answer. */
  function rateLimit(): Response | Record<string, string> {
    if (!limit) return {};
    const windowMs = limit.windowMs ?? 60_000;
    const at = now();
    if (at >= windowStart + windowMs) {
      windowStart = at;
      used = 0;
    }
    const resetAt = Math.max(windowStart + windowMs, blockedUntil);
    const headers = {
      'X-RateLimit-Limit': String(limit.requests),
      'X-RateLimit-Remaining': String(Math.max(0, limit.requests - used - 1)),
      'X-RateLimit-Reset': String(Math.ceil(resetAt / 1000)),
    };
    if (at < blockedUntil || used >= limit.requests) {
      if (at >= blockedUntil) blockedUntil = at + (limit.blockMs ?? windowMs);
      stats.rateLimited++;
      return HttpResponse.json(
        { message: 'Rate limit exceeded' },
        {
          status: 429,
          headers: {
            ...headers,
            'X-RateLimit-Remaining': '0',
            'X-RateLimit-Reset': String(Math.ceil(blockedUntil / 1000)),
            'Retry-After': String(Math.max(1, Math.ceil((blockedUntil - at) / 1000))),
          },
        },
      );
    }
    used++;
    return headers;
  }

  async function answer(request: Request, shape: 'legacy' | 'current'): Promise<Response> {
    stats.requests++;
    stats.byPath[shape]++;
    const query = new URL(request.url).searchParams;
    const eventId = query.get('event_id') ?? (shape === 'legacy' ? query.get('event_api_id') : null);
    const cursorText = query.get('pagination_cursor');
    const cursor = cursorText ? decodeCursor(cursorText) : null;
    const pageNo = cursor?.page ?? 1;
    opts.onRequest?.(request, pageNo);

    const latency = typeof opts.latencyMs === 'function' ? opts.latencyMs(pageNo) : (opts.latencyMs ?? 0);
    const answeredAt = performance.now() + latency;
    const page = await answerPage(request, shape, query, eventId, cursorText, cursor, pageNo);
    const response = page instanceof Response ? page : page.response;
    // The latency is the whole time to answer, the simulator's own work included, as a
    // real server's is: the page is ready after `latency` ms, not `latency` ms plus work.
    const remaining = answeredAt - performance.now();
    if (remaining > 0) {
      // The client may give up first (a timeout test); then nobody reads the answer.
      const gaveUp = await delay(remaining, false, { signal: request.signal }).catch(() => true);
      if (gaveUp) return HttpResponse.error();
    }
    if (!(page instanceof Response)) {
      stats.pagesServed++;
      stats.guestsServed += page.guests;
    }
    return response;
  }

  async function answerPage(
    request: Request,
    shape: 'legacy' | 'current',
    query: URLSearchParams,
    eventId: string | null,
    cursorText: string | null,
    cursor: Cursor | null,
    pageNo: number,
  ): Promise<Response | { response: Response; guests: number }> {
    const injected = await opts.fault?.(request, pageNo);
    if (injected) return injected;
    if (request.headers.get('x-luma-api-key') !== apiKey) return failure(401, 'Invalid API key');
    const limited = rateLimit();
    if (limited instanceof Response) return limited;

    if (!eventId) return failure(400, 'event_id is required');
    const list = opts.events[eventId];
    if (!list) return failure(404, 'Event not found');
    if (cursorText && cursor?.eventId !== eventId) return failure(400, 'Invalid pagination_cursor');
    const limitText = query.get('pagination_limit');
    const asked = limitText === null ? (opts.defaultPageSize ?? 50) : Number(limitText);
    if (!Number.isInteger(asked) || asked < 1) return failure(400, 'Invalid pagination_limit');
    const pageSize = Math.min(asked, maxPageSize);
    const wanted = query.get('approval_status');

    const total = Array.isArray(list) ? list.length : (list as GeneratedGuestList).guestCount;
    const guestAt = (index: number): SimGuest =>
      Array.isArray(list)
        ? (list[index] as SimGuest)
        : ((list as GeneratedGuestList).guest?.(index) ?? simGuest(eventId, index));
    const matches = (guest: SimGuest) => wanted === null || (guest.approvalStatus ?? 'approved') === wanted;

    const entries: unknown[] = [];
    let index = cursor?.offset ?? 0;
    for (; index < total && entries.length < pageSize; index++) {
      const guest = guestAt(index);
      if (matches(guest)) entries.push(shape === 'legacy' ? legacyEntry(guest) : currentEntry(guest));
    }
    // Skip ahead to the next match so the last page says has_more: false.
    while (index < total && !matches(guestAt(index))) index++;
    const hasMore = index < total;
    const body = hasMore
      ? { entries, has_more: true, next_cursor: encodeCursor({ eventId, offset: index, page: pageNo + 1 }) }
      : { entries, has_more: false };
    return { response: HttpResponse.json(body, { headers: limited }), guests: entries.length };
  }

  const webhooks = createSimWebhooks({ apiKey });
  async function registerGuest(eventId: string, guest: SimGuest): Promise<SimDelivery[]> {
    const list = opts.events[eventId];
    if (list !== undefined && !Array.isArray(list)) throw new Error(`event ${eventId} has a generated guest list`);
    opts.events[eventId] = [...((list as SimGuest[] | undefined) ?? []), guest];
    return webhooks.deliver('guest.registered', eventId, guest);
  }

  const handlers = [
    ...webhooks.handlers,
    // '*' matches any origin and prefix, so api.lu.ma/public/... and 127.0.0.1:port both work.
    http.get(`*${LEGACY_GUESTS_PATH}`, ({ request }) => answer(request, 'legacy')),
    http.get(`*${CURRENT_GUESTS_PATH}`, ({ request }) => answer(request, 'current')),
  ];
  return Object.assign(handlers, { stats, webhooks, registerGuest });
}

interface Cursor {
  eventId: string;
  offset: number;
  page: number;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.eventId, cursor.offset, cursor.page])).toString('base64url');
}

function decodeCursor(text: string): Cursor | null {
  try {
    const [eventId, offset, page] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if (typeof eventId !== 'string' || !isCount(offset, 0) || !isCount(page, 1)) return null;
    return { eventId, offset: offset as number, page: page as number };
  } catch {
    return null;
  }
}

function legacyEntry(guest: SimGuest) {
  const name = guest.name ?? ([guest.firstName, guest.lastName].filter(Boolean).join(' ') || null);
  return {
    api_id: guest.id,
    guest: {
      api_id: guest.id,
      email: guest.email,
      name,
      approval_status: guest.approvalStatus ?? 'approved',
      registered_at: guest.registeredAt ?? null,
    },
  };
}

function currentEntry(guest: SimGuest) {
  return {
    id: guest.id,
    user_email: guest.email,
    user_name: guest.name ?? null,
    user_first_name: guest.firstName ?? null,
    user_last_name: guest.lastName ?? null,
    approval_status: guest.approvalStatus ?? 'approved',
    registered_at: guest.registeredAt ?? null,
  };
}

function failure(status: number, message: string): Response {
  return HttpResponse.json({ message }, { status });
}

function isCount(value: unknown, min: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min;
}
