import type { ExternalGuest } from './types.ts';

/**
 * Reads one page of Luma's guest list, whichever endpoint generation answered it:
 * wrapped entries `{ api_id, guest: {...} }` (legacy /v1/event/get-guests) or flat guest
 * objects (/v1/events/guests/list), with either field-name set (id|api_id,
 * user_email|email, user_name|user_first_name+user_last_name|name). See
 * ../shared/spec/luma-api.md. Hand-written guards, no schema library: this runs for
 * every guest of every event, so it allocates one object per usable guest and no more.
 */

/** A retryable failure with a stable label for the errors-by-type metric (see errorKind). */
export class LumaError extends Error {
  readonly kind: string;

  constructor(kind: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LumaError';
    this.kind = kind;
  }
}

export interface GuestPage {
  guests: ExternalGuest[];
  /** Entries without a usable id or email. */
  skipped: number;
  /** The guest ids of skipped entries that had one (their email was unusable). */
  skippedGuestIds: string[];
  hasMore: boolean;
  /** Null when the page carries no cursor (normal on the last page). */
  nextCursor: string | null;
}

export interface PageContext {
  eventUid: string;
  page: number;
}

/** RFC 5321 caps a forward path at 256 octets; 320 is the widely used local@domain bound. */
const MAX_EMAIL = 320;
const MAX_ID = 255;
const MAX_NAME = 500;
const MAX_STATUS = 64;
const MAX_TIMESTAMP = 64;
/** A cursor goes back into the next URL; anything longer is not a cursor. */
const MAX_CURSOR = 2048;
// Cc = C0, DEL and C1 controls; an id or email containing one is corrupt, not merely odd.
const CONTROL = /\p{Cc}/u;
const CONTROL_GLOBAL = /\p{Cc}/gu;
const WHITESPACE = /\s/;
const ISO_DATE_START = /^\d{4}-\d{2}-\d{2}/;
const ASCII_UPPER = /[A-Z]+/g;

/**
 * Validates and normalises one page. Throws a LumaError kind 'luma_invalid_response'
 * naming the event and page when the page as a whole is unusable; single bad entries
 * are skipped and counted instead. Never echoes the body into the message.
 */
export function parseGuestPage(body: unknown, ctx: PageContext): GuestPage {
  const data = typeof body === 'string' ? parseJson(body, ctx) : body;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw invalidPage(ctx, `the body is ${describe(data)}, not an object`);
  }
  const page = data as Record<string, unknown>;
  const entries = page.entries;
  if (!Array.isArray(entries)) throw invalidPage(ctx, `"entries" is ${describe(entries)}, not an array`);
  const hasMore = page.has_more;
  if (typeof hasMore !== 'boolean') throw invalidPage(ctx, `"has_more" is ${describe(hasMore)}, not a boolean`);
  const nextCursor = readCursor(page.next_cursor, ctx);

  const guests: ExternalGuest[] = [];
  const skippedGuestIds: string[] = [];
  let skipped = 0;
  for (const entry of entries) {
    const guest = readEntry(entry);
    if (typeof guest === 'object' && guest !== null) {
      guests.push(guest);
      continue;
    }
    skipped++;
    if (typeof guest === 'string') skippedGuestIds.push(guest);
  }
  return { guests, skipped, skippedGuestIds, hasMore, nextCursor };
}

/** An invalid-response error naming the event and page; `reason` must not quote the body. */
export function invalidPage(ctx: PageContext, reason: string): LumaError {
  return new LumaError(
    'luma_invalid_response',
    `Luma returned an unusable guest page for event ${ctx.eventUid}, page ${ctx.page}: ${reason}`,
  );
}

function parseJson(body: string, ctx: PageContext): unknown {
  const start = body.trimStart();
  if (start === '') throw invalidPage(ctx, 'the body is empty');
  if (start.startsWith('<')) throw invalidPage(ctx, 'the body is an HTML or XML page, not JSON');
  try {
    return JSON.parse(body);
  } catch {
    // The parser's message quotes the body; report the size instead.
    throw invalidPage(ctx, `the body is not valid JSON (${body.length} characters)`);
  }
}

function readCursor(value: unknown, ctx: PageContext): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw invalidPage(ctx, `"next_cursor" is ${describe(value)}, not a string`);
  if (value.length > MAX_CURSOR || CONTROL.test(value)) throw invalidPage(ctx, '"next_cursor" is malformed');
  return value;
}

/** The guest; or, for an entry whose email is unusable, its guest id alone; or null. */
function readEntry(entry: unknown): ExternalGuest | string | null {
  if (entry === null || typeof entry !== 'object') return null;
  const outer = entry as Record<string, unknown>;
  const inner = outer.guest;
  const wrapped = inner !== null && typeof inner === 'object' && !Array.isArray(inner);
  const guest = wrapped ? (inner as Record<string, unknown>) : outer;

  const id = readId(guest.id) ?? readId(guest.api_id) ?? (wrapped ? readId(outer.api_id) : null);
  if (id === null) return null;
  const email = readEmail(guest.user_email) ?? readEmail(guest.email);
  if (email === null) return id;

  return {
    externalGuestId: id,
    email,
    name: readName(guest),
    approvalStatus: readShort(guest.approval_status, MAX_STATUS) ?? 'unknown',
    registeredAt: readTimestamp(guest.registered_at),
  };
}

function readId(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const id = value.trim();
  if (id === '' || id.length > MAX_ID || CONTROL.test(id) || WHITESPACE.test(id)) return null;
  return id;
}

function readEmail(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  // ASCII letters only: matching lower-cases the rest in PostgreSQL, on both sides, because
  // JavaScript's case mapping differs from the database's beyond ASCII (a final Σ, İ).
  const email = value.trim().replace(ASCII_UPPER, (letters) => letters.toLowerCase());
  if (email.length < 3 || email.length > MAX_EMAIL) return null;
  const at = email.indexOf('@');
  if (at <= 0 || at === email.length - 1) return null;
  if (CONTROL.test(email) || WHITESPACE.test(email)) return null;
  return email;
}

function readName(guest: Record<string, unknown>): string | null {
  const full = cleanText(guest.user_name);
  if (full) return truncate(full, MAX_NAME);
  const first = cleanText(guest.user_first_name);
  const last = cleanText(guest.user_last_name);
  if (first || last) return truncate(first && last ? `${first} ${last}` : (first ?? last ?? ''), MAX_NAME);
  const name = cleanText(guest.name);
  return name ? truncate(name, MAX_NAME) : null;
}

/**
 * A display string with control characters turned into spaces (PostgreSQL text rejects
 * NUL outright); null when blank or not a string.
 */
function cleanText(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const text = (CONTROL.test(value) ? value.replace(CONTROL_GLOBAL, ' ') : value).trim();
  return text === '' ? null : text;
}

function readShort(value: unknown, max: number): string | null {
  if (typeof value !== 'string' || value === '' || value.length > max || CONTROL.test(value)) return null;
  return value;
}

function readTimestamp(value: unknown): string | null {
  const text = readShort(value, MAX_TIMESTAMP);
  if (text === null || !ISO_DATE_START.test(text) || Number.isNaN(Date.parse(text))) return null;
  return text;
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // Do not cut a surrogate pair in half: the lone half is not valid UTF-8 and would be stored as U+FFFD.
  const code = text.charCodeAt(max - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? max - 1 : max;
  return text.slice(0, end).trimEnd();
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' || type === 'undefined' ? `an ${type}` : `a ${type}`;
}
