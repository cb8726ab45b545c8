/** The webhook types that mean an event's guest list may have changed. */
export const GUEST_DELIVERY_TYPES: ReadonlySet<string> = new Set(['guest.registered', 'guest.updated']);

/** Longest Luma event id accepted; real ones are ~20 characters. */
const MAX_ID_LENGTH = 256;

export class BadDeliveryError extends Error {
  constructor(reason: string) {
    super(`Bad webhook delivery: ${reason}`);
    this.name = 'BadDeliveryError';
  }
}

/** What the receiver needs from a delivery: its type and, for a guest delivery, the Luma event. */
export interface Delivery {
  type: string;
  /** Set for guest deliveries only. */
  lumaEventId?: string;
}

/**
 * Reads `{ type, data: { …guest…, event: { id } } }` (the 2026-06 OpenAPI file's
 * guest.registered / guest.updated). Nothing else of the payload is used: a delivery
 * only triggers an authoritative read of the event's approved list. Throws
 * BadDeliveryError naming what is wrong; never quotes the body.
 */
export function parseDelivery(rawBody: string): Delivery {
  let data: unknown;
  try {
    data = JSON.parse(rawBody);
  } catch {
    throw new BadDeliveryError('body is not JSON');
  }
  if (!isObject(data)) throw new BadDeliveryError('body is not a JSON object');
  if (typeof data.type !== 'string' || data.type === '') throw new BadDeliveryError('type is missing');
  if (!GUEST_DELIVERY_TYPES.has(data.type)) return { type: data.type };
  if (!isObject(data.data)) throw new BadDeliveryError(`${data.type} without a data object`);
  const event = data.data.event;
  // The event object is documented; the flat ids are accepted for older payloads.
  const id = isObject(event) ? event.id : (data.data.event_id ?? data.data.event_api_id);
  if (typeof id !== 'string' || id.trim() === '') throw new BadDeliveryError(`${data.type} without data.event.id`);
  if (id.length > MAX_ID_LENGTH) throw new BadDeliveryError(`data.event.id is longer than ${MAX_ID_LENGTH} characters`);
  return { type: data.type, lumaEventId: id };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
