/**
 * The worker's runtime privileges, exactly as docs/security.md lists them: the test in
 * test/db/hardened-privileges.test.ts grants these and nothing more to a fresh role on a
 * hardened database, then runs a sync, the tier tick and status with it. A table the
 * worker starts to use is one line here (and one in docs/security.md).
 */

/** Directory tables (schema public): what the worker does to each. */
export const DIRECTORY_TABLE_PRIVILEGES: Record<string, string> = {
  Member: 'SELECT',
  MemberApproval: 'SELECT',
  Image: 'SELECT',
  Team: 'SELECT',
  TeamMemberRole: 'SELECT',
  PLEventLocation: 'SELECT',
  IrlGatheringPushConfig: 'SELECT',
  PLEvent: 'SELECT, UPDATE',
  PushNotification: 'SELECT, UPDATE',
  PLEventGuest: 'SELECT, INSERT, UPDATE, DELETE',
  IrlGatheringPushCandidate: 'SELECT, INSERT, UPDATE, DELETE',
};

/** The id sequences of the directory tables the worker inserts into. */
export const DIRECTORY_SEQUENCES = ['PLEventGuest_id_seq', 'IrlGatheringPushCandidate_id_seq'];

/** The worker's own tables (schema luma_guest_sync). */
export const OWN_TABLE_PRIVILEGES: Record<string, string> = {
  rate_budget: 'SELECT, INSERT, UPDATE, DELETE',
  sync_history: 'SELECT, INSERT, UPDATE, DELETE',
  tier_enqueued: 'SELECT, INSERT, UPDATE, DELETE',
  event_claim: 'SELECT, INSERT, UPDATE, DELETE',
  // The pages of a read, for stale removal (migration 0012): written, read, deleted; never updated.
  listed_page: 'SELECT, INSERT, DELETE',
};

export const OWN_SEQUENCES = ['sync_history_id_seq', 'event_claim_token'];

export const OWN_FUNCTIONS = [
  'reserve_rate_slot(text, integer, integer, integer)',
  'end_rate_slot(text, timestamptz, timestamptz)',
  'release_rate_slot(text, timestamptz)',
  'normalize_email(text)',
];

/** The GRANT statements for `role`, in the order a DBA would run them. */
export function workerGrants(role: string): string[] {
  const to = `TO "${role}"`;
  return [
    `GRANT USAGE ON SCHEMA public ${to}`,
    ...Object.entries(DIRECTORY_TABLE_PRIVILEGES).map(
      ([table, privileges]) => `GRANT ${privileges} ON public."${table}" ${to}`,
    ),
    ...DIRECTORY_SEQUENCES.map((sequence) => `GRANT USAGE ON SEQUENCE public."${sequence}" ${to}`),
    `GRANT USAGE ON SCHEMA luma_guest_sync ${to}`,
    ...Object.entries(OWN_TABLE_PRIVILEGES).map(
      ([table, privileges]) => `GRANT ${privileges} ON luma_guest_sync.${table} ${to}`,
    ),
    ...OWN_SEQUENCES.map((sequence) => `GRANT USAGE ON SEQUENCE luma_guest_sync.${sequence} ${to}`),
    ...OWN_FUNCTIONS.map((fn) => `GRANT EXECUTE ON FUNCTION luma_guest_sync.${fn} ${to}`),
  ];
}
