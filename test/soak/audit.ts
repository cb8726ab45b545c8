/**
 * The soak database's own record of what happened to guest rows, kept by a trigger on the
 * database's clock (one replica's clock is off on purpose): every DELETE and INSERT on
 * "PLEventGuest", with the row's event, member, Luma guest id and location.
 * It lives only in the soak's database, in a schema of its own; no migration has it.
 */
import type { Sql } from '../../src/db/client.ts';

export async function installAudit(sql: Sql): Promise<void> {
  await sql.unsafe(`
    CREATE SCHEMA soak_audit;
    CREATE TABLE soak_audit.guest_change (
      at timestamptz NOT NULL DEFAULT clock_timestamp(),
      op text NOT NULL,
      event_uid text, member_uid text NOT NULL, external_guest_id text, location_uid text
    );
    CREATE FUNCTION soak_audit.guest_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        INSERT INTO soak_audit.guest_change (op, event_uid, member_uid, external_guest_id, location_uid)
        VALUES ('DELETE', OLD."eventUid", OLD."memberUid", OLD."externalGuestId", OLD."locationUid");
        RETURN OLD;
      END IF;
      INSERT INTO soak_audit.guest_change (op, event_uid, member_uid, external_guest_id, location_uid)
      VALUES ('INSERT', NEW."eventUid", NEW."memberUid", NEW."externalGuestId", NEW."locationUid");
      RETURN NEW;
    END $$;
    CREATE TRIGGER soak_guest_change AFTER INSERT OR DELETE ON "PLEventGuest"
      FOR EACH ROW EXECUTE FUNCTION soak_audit.guest_change();
  `);
}

export interface GuestChange {
  at: number;
  op: 'INSERT' | 'DELETE';
  eventUid: string | null;
  memberUid: string;
  externalGuestId: string | null;
  locationUid: string;
}

export async function guestChanges(sql: Sql, op: 'INSERT' | 'DELETE'): Promise<GuestChange[]> {
  const rows = await sql<GuestChange[]>`
    SELECT (extract(epoch FROM at) * 1000)::float8 AS at, op, event_uid AS "eventUid", member_uid AS "memberUid", external_guest_id AS "externalGuestId",
           location_uid AS "locationUid"
    FROM soak_audit.guest_change WHERE op = ${op} ORDER BY at`;
  return [...rows];
}
