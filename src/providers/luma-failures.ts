import { PermanentError } from '../errors.ts';
import { ResponseTooLargeError } from './bounded-body.ts';
import { LumaError } from './luma-page.ts';
import { isTransientStatus } from './retry-policy.ts';

/**
 * Turns what went wrong with one Luma request into the error the sync reports, and says
 * whether it is worth retrying in the process. Every message names the event and the
 * page; none quotes a body whole or carries got's request options (they hold the API key).
 */

export interface FailedRequest {
  eventUid: string;
  externalEventId: string;
  page: number;
  cursor: string | null;
}

export interface FailureContext {
  apiKey: string;
  requestTimeoutMs: number;
}

export interface Failure {
  error: Error;
  /** Worth sending again in this process (a 429 has its own counter and is not marked here). */
  transient: boolean;
}

/** The kind of a cursor Luma refused mid-list; the provider restarts the list once on it. */
export const CURSOR_REJECTED = 'luma_cursor_rejected';

/**
 * Statuses that, on a request carrying a cursor, mean the cursor is no longer good: it
 * expired or the list changed under it. Only a request with a cursor is read this way;
 * on page 1 the same status is about the request or the event.
 */
const CURSOR_STATUSES = new Set([400, 404, 410, 422]);
const MAX_DETAIL = 100;

export function statusFailure(status: number, body: string, req: FailedRequest, ctx: FailureContext): Failure {
  const where = `for event ${req.eventUid}, page ${req.page}`;
  if (isTransientStatus(status)) {
    return { error: new LumaError('luma_unavailable', `Luma answered HTTP ${status} ${where}`), transient: true };
  }
  const permanent = (kind: string, message: string): Failure => ({
    error: new PermanentError(kind, message),
    transient: false,
  });
  if (status === 401 || status === 403)
    return permanent('luma_auth', `Luma rejected the API key (HTTP ${status}) ${where}`);
  const detail = errorDetail(body, ctx.apiKey);
  if (req.cursor !== null && CURSOR_STATUSES.has(status)) {
    return permanent(CURSOR_REJECTED, `Luma rejected the pagination cursor (HTTP ${status}${detail}) ${where}`);
  }
  if (status === 404) {
    return permanent('luma_event_not_found', `Luma does not know event ${req.externalEventId} (HTTP 404) ${where}`);
  }
  if (status >= 400 && status < 500) {
    return permanent('luma_rejected', `Luma rejected the request (HTTP ${status}${detail}) ${where}`);
  }
  // 1xx/3xx, which this API never sends on purpose (redirects are not followed): left for
  // SQS to redeliver, not retried here, because nothing suggests an answer would change soon.
  return { error: new LumaError('luma_unexpected_status', `Luma answered HTTP ${status} ${where}`), transient: false };
}

/** A request that got no complete answer; `null` when `signal` aborted it (the caller rethrows the reason). */
export function requestFailure(err: unknown, req: FailedRequest, ctx: FailureContext): Failure {
  const where = `for event ${req.eventUid}, page ${req.page}`;
  if (err instanceof ResponseTooLargeError) {
    // Not retried here: a body that size is Luma misbehaving, not a blip; SQS redelivers.
    return {
      error: new LumaError('luma_response_too_large', `Luma's answer is too large (${err.message}) ${where}`),
      transient: false,
    };
  }
  const code = (err as { code?: unknown } | null)?.code;
  // got's errors carry the request options, headers and API key included: keep only
  // the name, code and message, with the key scrubbed in case a message ever quotes it.
  const cause = new Error(
    scrub(`${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`, ctx.apiKey),
  );
  if (typeof code === 'string') Object.assign(cause, { code });
  if (code === 'ETIMEDOUT') {
    const message = `Luma did not answer within ${ctx.requestTimeoutMs} ms ${where}`;
    return { error: new LumaError('luma_timeout', message, { cause }), transient: true };
  }
  // A reset or refused connection, a body cut short, a DNS blip: all worth another try.
  const what = typeof code === 'string' ? ` (${code})` : '';
  return {
    error: new LumaError('luma_unavailable', `Luma request failed${what} ${where}`, { cause }),
    transient: true,
  };
}

/** Luma's own error message, bounded and scrubbed; no body is ever quoted whole. */
function errorDetail(body: string, apiKey: string): string {
  if (body.length > 100_000) return '';
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: unknown } | null;
    const text = typeof parsed?.message === 'string' ? parsed.message : parsed?.error;
    if (typeof text !== 'string' || text.trim() === '') return '';
    const clean = scrub(text.replace(/\p{Cc}/gu, ' ').trim(), apiKey);
    return `: ${clean.length > MAX_DETAIL ? `${clean.slice(0, MAX_DETAIL)}…` : clean}`;
  } catch {
    return '';
  }
}

function scrub(text: string, apiKey: string): string {
  return apiKey.length >= 4 ? text.split(apiKey).join('[redacted]') : text;
}
