/**
 * The driver: what Luma's users and the directory's editors do through the run, from the
 * seed. Guests register and are declined on Luma, each followed by its webhook delivery (or
 * a duplicate, a late one, a forged or unsigned one, or none); and the directory changes —
 * an email, a deleted member, a moved event, a newly linked event. It keeps what it did,
 * with times, for the checks.
 */
import type { Sql } from '../../src/db/client.ts';
import type { SimGuest } from '../../src/local/luma-simulator.ts';
import type { Prng } from './prng.ts';
import type { SoakLuma } from './servers.ts';
import type { DeliveryKind, DeliveryOutcome } from './webhook-sender.ts';
import { insertEvent, memberBase, memberEmail, type World } from './world.ts';

export interface Registration {
  eventUid: string;
  lumaId: string;
  guestId: string;
  /** The member whose email it is, or null for a stranger. */
  memberUid: string | null;
  /** When Luma approved it (Luma's clock). */
  at: number;
  delivery: DeliveryKind;
}

export interface DirectoryChange {
  at: number;
  what: string;
  eventUid: string;
}

export interface DriverRecord {
  registrations: Registration[];
  declines: Array<{ eventUid: string; guestId: string; at: number }>;
  directory: DirectoryChange[];
  deliveries: DeliveryOutcome[];
  /** Members the driver deleted: their rows went with them (ON DELETE CASCADE). */
  deletedMembers: Set<string>;
  /** The last change (Luma or directory) of each event, by uid. */
  lastChange: Map<string, number>;
}

type Deliver = (
  kind: DeliveryKind,
  type: 'guest.registered' | 'guest.updated',
  eventId: string,
  guest: SimGuest,
  lateMs?: number,
) => Promise<DeliveryOutcome>;

export function createDriver(deps: { sql: Sql; luma: SoakLuma; world: World; random: Prng; deliver: Deliver }) {
  const { sql, luma, world, random } = deps;
  const record: DriverRecord = {
    registrations: [],
    declines: [],
    directory: [],
    deliveries: [],
    deletedMembers: new Set(),
    lastChange: new Map(),
  };
  const editable = [...world.events.slice(1), world.newEvent];
  const lists = new Map(editable.map((e) => [e.uid, structuredClone(world.lists[e.lumaId]!)]));
  const pending: Promise<unknown>[] = [];
  let registered = 0;

  const changed = (eventUid: string, at: number) =>
    record.lastChange.set(eventUid, Math.max(at, record.lastChange.get(eventUid) ?? 0));
  const background = (work: Promise<DeliveryOutcome>) =>
    pending.push(work.then((outcome) => record.deliveries.push(outcome)).catch(() => {}));

  async function register(): Promise<void> {
    const k = random.int(0, editable.length - 1);
    const event = editable[k]!;
    const list = lists.get(event.uid)!;
    const n = registered++;
    // A bench member of the event's range not on its list yet (every 5th: a stranger).
    const member = memberBase(k) + 500 + n;
    const stranger = random.chance(0.2);
    const guest: SimGuest = {
      id: `gst-soak-reg-${n}`,
      email: stranger ? `stranger-reg-${n}@nowhere.io` : memberEmail(member),
      name: `Registrant ${n}`,
    };
    const change = await luma.control<{ at: number }>('register', { eventId: event.lumaId, guest });
    list.push({ ...guest, approvalStatus: 'approved' });
    changed(event.uid, change.at);
    const kind = random.pick<DeliveryKind>([
      'signed',
      'signed',
      'signed',
      'signed',
      'duplicate',
      'late',
      'forged',
      'unsigned',
      'lost',
    ]);
    record.registrations.push({
      eventUid: event.uid,
      lumaId: event.lumaId,
      guestId: guest.id,
      memberUid: stranger ? null : `bench-m-${member}`,
      at: change.at,
      delivery: kind,
    });
    background(deps.deliver(kind, 'guest.registered', event.lumaId, guest, random.int(15_000, 40_000)));
  }

  async function decline(): Promise<void> {
    const event = random.pick(editable);
    const approved = lists.get(event.uid)!.filter((g) => (g.approvalStatus ?? 'approved') === 'approved');
    if (approved.length < 10) return;
    const guest = random.pick(approved);
    const change = await luma.control<{ at: number }>('decline', { eventId: event.lumaId, guestId: guest.id });
    guest.approvalStatus = 'declined';
    changed(event.uid, change.at);
    record.declines.push({ eventUid: event.uid, guestId: guest.id, at: change.at });
    const kind = random.pick<DeliveryKind>(['signed', 'signed', 'duplicate', 'lost']);
    background(deps.deliver(kind, 'guest.updated', event.lumaId, { ...guest, approvalStatus: 'declined' }));
  }

  /** One action of the driver's steady stream. */
  async function act(): Promise<void> {
    const roll = random.next();
    if (roll < 0.65) await register();
    else if (roll < 0.85) await decline();
    else {
      // Noise: a forged delivery naming a real event.
      const event = random.pick(editable);
      background(deps.deliver('forged', 'guest.registered', event.lumaId, { id: 'gst-forged', email: 'x@evil.io' }));
    }
  }

  function directory(what: string, eventUid: string): void {
    const at = Date.now();
    record.directory.push({ at, what, eventUid });
    changed(eventUid, at);
  }

  return {
    record,
    act,
    /** A member's email changes to that of a Luma guest no member had: the next sync adds them. */
    async changeEmail(): Promise<string> {
      const k = 2;
      const event = editable[k]!;
      const stranger = lists
        .get(event.uid)!
        .find((g) => g.email.endsWith('@nowhere.io') && g.approvalStatus !== 'declined');
      if (!stranger) return 'no stranger to take over';
      const member = `bench-m-${memberBase(k) + 999}`;
      await sql`UPDATE "Member" SET email = ${stranger.email}, "updatedAt" = now() WHERE uid = ${member}`;
      directory(`email of ${member} changed to that of Luma guest ${stranger.id}`, event.uid);
      return `${member} now has the email of ${stranger.id} (${event.uid})`;
    },
    /** A member with a synced row is deleted from the directory. */
    async deleteMember(): Promise<string> {
      const event = editable[3]!;
      const [row] = await sql<{ memberUid: string }[]>`
        SELECT "memberUid" FROM "PLEventGuest" WHERE "eventUid" = ${event.uid} AND "externalGuestId" IS NOT NULL
        ORDER BY id LIMIT 1`;
      if (!row) return `no synced row on ${event.uid} yet`;
      record.deletedMembers.add(row.memberUid);
      await sql`DELETE FROM "Member" WHERE uid = ${row.memberUid}`;
      directory(`member ${row.memberUid} deleted`, event.uid);
      return `${row.memberUid} deleted (a guest of ${event.uid})`;
    },
    /** An event (one with directory-created rows) moves to the third location. */
    async moveEvent(): Promise<string> {
      const event = editable[0]!;
      await sql`UPDATE "PLEvent" SET "locationUid" = 'soak-loc-c', "updatedAt" = now() WHERE uid = ${event.uid}`;
      directory('moved to soak-loc-c', event.uid);
      return `${event.uid} moved to soak-loc-c`;
    },
    async linkNewEvent(): Promise<string> {
      await insertEvent(sql, world.newEvent);
      directory('linked to Luma', world.newEvent.uid);
      return `${world.newEvent.uid} linked to ${world.newEvent.lumaId}`;
    },
    /** Waits for late deliveries still on their way. */
    settle: () => Promise.allSettled(pending),
  };
}
