import { PermanentError } from '../errors.ts';
import { PROVIDER_TYPES, type ProviderType } from '../providers/types.ts';
import { SYNC_TRIGGERS, type SyncMessage, type SyncTrigger } from '../sync/types.ts';

/** Longest accepted id: directory uids are ~25 characters and Luma ids ~20; anything far longer is not an id. */
export const MAX_FIELD_LENGTH = 256;
/** How much of an untrusted body a log line or error may quote. */
export const EXCERPT_LENGTH = 100;

const ID_FIELDS = ['eventUid', 'externalEventId', 'locationUid'] as const;
/** An ISO-8601 UTC instant as Date.toISOString() writes it (milliseconds optional). */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/**
 * The SQS body as a SyncMessage. Anything else is a PermanentError — redelivering a
 * malformed body can never make it valid — whose reason names the field and what was
 * expected, and quotes at most EXCERPT_LENGTH characters of the body. Unknown fields are
 * ignored so a newer producer can add some; only the known ones are returned.
 */
export function parseSyncMessage(body: string | undefined): SyncMessage {
  if (typeof body !== 'string' || body.length === 0) throw bad('body is empty; expected a JSON object');
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    // JSON.parse's own message quotes the input; ours quotes a bounded excerpt only.
    throw bad(`body is not JSON; expected a JSON object (body starts ${JSON.stringify(excerpt(body))})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw bad(`body is JSON ${describe(data)}; expected a JSON object`);
  }
  const record = data as Record<string, unknown>;

  const ids = {} as Record<(typeof ID_FIELDS)[number], string>;
  for (const field of ID_FIELDS) ids[field] = requireId(record, field);

  const providerType = record.providerType;
  if (typeof providerType !== 'string' || providerType.trim() === '') {
    throw bad(`providerType is ${describe(providerType)}; expected one of ${PROVIDER_TYPES.join(', ')}`);
  }
  if (!(PROVIDER_TYPES as readonly string[]).includes(providerType)) {
    throw new PermanentError(
      'unknown_provider',
      `providerType ${JSON.stringify(excerpt(providerType, 40))} is unknown; expected one of ${PROVIDER_TYPES.join(', ')}`,
    );
  }

  const message: SyncMessage = { ...ids, providerType: providerType as ProviderType };
  const scheduledFor = record.scheduledFor;
  if (scheduledFor !== undefined && scheduledFor !== null) {
    if (typeof scheduledFor !== 'string' || !ISO_INSTANT.test(scheduledFor) || Number.isNaN(Date.parse(scheduledFor))) {
      throw bad(
        `scheduledFor is ${describe(scheduledFor)}; expected an ISO-8601 UTC time such as 2025-01-01T03:00:00.000Z`,
      );
    }
    message.scheduledFor = scheduledFor;
  }
  const trigger = record.trigger;
  if (trigger !== undefined && trigger !== null) {
    if (typeof trigger !== 'string') {
      throw bad(`trigger is ${describe(trigger)}; expected one of ${SYNC_TRIGGERS.join(', ')}`);
    }
    if (!(SYNC_TRIGGERS as readonly string[]).includes(trigger)) {
      throw bad(
        `trigger ${JSON.stringify(excerpt(trigger, 40))} is unknown; expected one of ${SYNC_TRIGGERS.join(', ')}`,
      );
    }
    message.trigger = trigger as SyncTrigger;
  }
  return message;
}

function requireId(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (value === undefined) throw bad(`${field} is missing; expected a non-empty string`);
  if (typeof value !== 'string') throw bad(`${field} is ${describe(value)}; expected a non-empty string`);
  if (value.trim() === '') throw bad(`${field} is blank; expected a non-empty string`);
  if (value.length > MAX_FIELD_LENGTH) {
    throw bad(`${field} is ${value.length} characters long; expected at most ${MAX_FIELD_LENGTH}`);
  }
  return value;
}

function bad(reason: string): PermanentError {
  return new PermanentError('bad_message', `Bad sync message: ${reason}`);
}

/** The JSON type of a value, for reasons; never the value itself, which may be large. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  if (value === undefined) return 'missing';
  return `a ${typeof value}`;
}

/** The start of an untrusted text, safe to log: bounded, control characters replaced. */
export function excerpt(text: string | undefined, max: number = EXCERPT_LENGTH): string {
  if (text === undefined) return '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const clean = text.slice(0, max).replace(/[\u0000-\u001f\u007f]/g, '?');
  return text.length > max ? `${clean}…` : clean;
}
