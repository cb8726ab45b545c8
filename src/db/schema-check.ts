import type { Sql } from './client.ts';
import { checkWritable } from './read-only.ts';

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
  /**
   * The setting of the server or the worker's role in the way, when no migration would
   * help ("search_path", "transaction_read_only", …): `message` says what to change.
   */
  setting?: string;
}

/**
 * Checks, read-only, that the directory database has what the worker needs: a server the
 * worker's sessions can write to (read-only.ts), role settings it can run under, then the
 * migrated objects.
 */
export async function checkSchema(sql: Sql): Promise<SchemaCheck> {
  const writable = await checkWritable(sql);
  if (!writable.ok) return writable;
  const role = await checkRoleSettings(sql);
  if (role) return { ok: false, missing: [role.missing], message: role.message, setting: role.setting };
  const tables = Object.keys(REQUIRED_COLUMNS);
  // The schema the worker's unqualified names lead to (public, unless the role's search_path says otherwise).
  const rows = await sql<{ table_name: string; column_name: string }[]>`
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = ${DIRECTORY_SCHEMA} AND table_name = ANY(${tables})`;
  const present = new Set(rows.map((r) => `${r.table_name}.${r.column_name}`));
  const missing = Object.entries(REQUIRED_COLUMNS).flatMap(([table, columns]) =>
    columns.filter((column) => !present.has(`${table}.${column}`)).map((column) => `"${table}"."${column}"`),
  );
  const indexes = await sql<{ indexname: string }[]>`
    SELECT indexname FROM pg_indexes WHERE schemaname = ${DIRECTORY_SCHEMA} AND indexname = ANY(${REQUIRED_INDEXES})`;
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

/** Where the directory's tables are: Prisma's default schema. The worker names them unqualified. */
const DIRECTORY_SCHEMA = 'public';

/**
 * The role settings the worker cannot run under (docs/security.md, "Role settings"), each
 * told as what to change rather than as missing tables:
 * - a search_path that does not lead the worker's unqualified names ("PLEvent") to schema
 *   public, where the directory's tables are: every statement would fail, and the column
 *   check read the schema the path leads to and asked for db:migrate;
 * - a default_transaction_isolation other than read committed in the worker's sessions:
 *   the claim's fence and the shared Luma budget then fail on a concurrent writer. A
 *   direct connection sets read committed itself (session-settings.ts); through a
 *   transaction-mode pooler, which sends no startup setting, the role's own stands.
 */
async function checkRoleSettings(sql: Sql): Promise<{ missing: string; message: string; setting: string } | undefined> {
  const [row] = await sql<{ search_path: string; resolves: string | null; exists: boolean; isolation: string }[]>`
    SELECT current_setting('search_path') AS search_path,
      (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = to_regclass('"PLEvent"')) AS resolves,
      to_regclass(${`${DIRECTORY_SCHEMA}."PLEvent"`}) IS NOT NULL AS exists,
      current_setting('default_transaction_isolation') AS isolation`;
  if (!row) return undefined;
  if (row.exists && row.resolves !== DIRECTORY_SCHEMA) {
    return {
      missing: `schema ${DIRECTORY_SCHEMA} on the search_path`,
      setting: 'search_path',
      message: `The worker's search_path (${row.search_path}) does not lead to schema ${DIRECTORY_SCHEMA}, which holds the directory's tables: the worker names them unqualified. Put ${DIRECTORY_SCHEMA} on the search_path of the worker's role (ALTER ROLE <worker> SET search_path = ${DIRECTORY_SCHEMA}, or RESET search_path; docs/security.md, "Role settings").`,
    };
  }
  if (row.isolation !== 'read committed') {
    return {
      missing: 'default_transaction_isolation read committed',
      setting: 'default_transaction_isolation',
      message: `The worker's sessions start ${row.isolation} (default_transaction_isolation), and the worker needs read committed: its claim's fence and the shared Luma budget fail on a concurrent writer otherwise. Behind a transaction-mode pooler the worker cannot set it itself: ALTER ROLE <worker> SET default_transaction_isolation = 'read committed' (docs/security.md, "Role settings").`,
    };
  }
  return undefined;
}
