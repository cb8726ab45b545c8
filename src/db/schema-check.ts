import type { Sql } from './client.ts';

/** The columns the worker cannot run without, by table. */
export const REQUIRED_COLUMNS: Record<string, string[]> = {
  Member: ['uid', 'email', 'deletedAt'],
  TeamMemberRole: ['memberUid', 'teamUid', 'mainTeam'],
  PLEvent: [
    'uid',
    'locationUid',
    'startDate',
    'endDate',
    'isDeleted',
    'externalEventProvider',
    'externalEventId',
    'guestLastSyncedAt',
    'updatedAt',
  ],
  PLEventGuest: ['uid', 'eventUid', 'locationUid', 'memberUid', 'teamUid', 'externalGuestId', 'updatedAt'],
  IrlGatheringPushConfig: ['isActive', 'enabled', 'minAttendeesPerEvent', 'upcomingWindowDays', 'reminderDaysBefore'],
  IrlGatheringPushCandidate: ['ruleKind', 'gatheringUid', 'eventUid', 'attendeeCount', 'processedAt'],
  PushNotification: ['category', 'title', 'description', 'metadata'],
};

/** The index that makes synced rows duplicate-proof; its absence is as serious as a missing column. */
const REQUIRED_INDEXES = ['PLEventGuest_synced_event_member_key', 'Member_normalized_email_idx'];
/**
 * The shared Luma request budget (migration 0011; the table since 0003), and the
 * existing-guest probe every page statement calls (0013).
 */
const REQUIRED_FUNCTIONS = [
  'luma_guest_sync.reserve_rate_slot(text,integer,integer,integer)',
  'luma_guest_sync.not_yet_guests(text,text[])',
];
/**
 * The sync history every attempt is written to (migration 0004), the per-event claims
 * (0008) and the pages of a read every page statement writes (0012).
 */
const REQUIRED_TABLES = ['luma_guest_sync.sync_history', 'luma_guest_sync.event_claim', 'luma_guest_sync.listed_page'];

export interface SchemaCheck {
  ok: boolean;
  missing: string[];
  /** One sentence for people: what is missing and what to run. */
  message: string;
}

/** Checks, read-only, that the directory database has what the worker needs. */
export async function checkSchema(sql: Sql): Promise<SchemaCheck> {
  const tables = Object.keys(REQUIRED_COLUMNS);
  const rows = await sql<{ table_name: string; column_name: string }[]>`
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = ANY(${tables})`;
  const present = new Set(rows.map((r) => `${r.table_name}.${r.column_name}`));
  const missing = Object.entries(REQUIRED_COLUMNS).flatMap(([table, columns]) =>
    columns.filter((column) => !present.has(`${table}.${column}`)).map((column) => `"${table}"."${column}"`),
  );
  const indexes = await sql<{ indexname: string }[]>`
    SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ANY(${REQUIRED_INDEXES})`;
  const found = new Set(indexes.map((r) => r.indexname));
  for (const name of REQUIRED_INDEXES) if (!found.has(name)) missing.push(`index "${name}"`);
  for (const fn of REQUIRED_FUNCTIONS) {
    const [found] = await sql<{ present: boolean }[]>`SELECT to_regprocedure(${fn}) IS NOT NULL AS present`;
    if (!found?.present) missing.push(`function ${fn}`);
  }
  for (const table of REQUIRED_TABLES) {
    const [found] = await sql<{ present: boolean }[]>`SELECT to_regclass(${table}) IS NOT NULL AS present`;
    if (!found?.present) missing.push(`table ${table}`);
  }
  const message =
    missing.length === 0
      ? 'schema ok'
      : `The directory database lacks what guest sync needs: ${missing.join(', ')}. Run \`npm run db:migrate\` (or \`luma-guest-sync db:migrate\`) against it.`;
  return { ok: missing.length === 0, missing, message };
}
