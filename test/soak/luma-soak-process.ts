/**
 * The soak's simulated Luma, a process of its own (a real Luma is another machine): the
 * project's simulator handlers (src/local/luma-simulator.ts) with Luma's real rate limit,
 * page latencies with a tail, 1 request in `failOneIn` failing and a switch that takes it
 * down, plus a control API the driver uses to register and decline guests. It keeps the
 * log of every approval change with its time, against which the soak judges each deletion.
 *
 *   node test/soak/luma-soak-process.ts <file holding LumaSoakOptions as JSON>
 * Prints one JSON line {"url", "controlUrl"}.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpResponse } from 'msw';
import { SIM_API_KEY, type SimGuest, type SimGuestList } from '../../src/local/luma-simulator.ts';
import { startLumaSimulator } from '../../src/local/luma-simulator-http.ts';
import { createPrng } from './prng.ts';

export interface LumaSoakOptions {
  seed: number;
  /** Requests per minute per key (Luma's is 200), and the window (60 s unless scaled). */
  rateLimit: number;
  windowMs: number;
  /** Guest lists held as arrays (the driver changes them). */
  lists: Record<string, SimGuest[]>;
  /** Generated lists (the large event): id → guest count. */
  generated: Record<string, number>;
  latency: { minMs: number; maxMs: number; tailShare: number; tailMaxMs: number };
  /** 1 request in this many is answered 500 (0: none). */
  failOneIn: number;
}

/** One change of a guest's approval on Luma, at the simulator's wall clock. */
export interface ApprovalChange {
  at: number;
  eventId: string;
  guestId: string;
  email: string;
  approved: boolean;
}

const options = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LumaSoakOptions;
const random = createPrng(options.seed).fork('luma');
const startedAt = Date.now();
const events: Record<string, SimGuestList> = {};
const changes: ApprovalChange[] = [];
for (const [eventId, guests] of Object.entries(options.lists)) {
  events[eventId] = guests;
  for (const g of guests) changes.push({ at: startedAt, eventId, guestId: g.id, email: g.email, approved: true });
}
for (const [eventId, guestCount] of Object.entries(options.generated)) events[eventId] = { guestCount };

let downUntil = 0;
let failOneIn = options.failOneIn;
const perEvent: Record<string, { requests: number; firstPages: number[] }> = {};
const failures = { injected: 0, down: 0 };

const luma = await startLumaSimulator({
  events,
  apiKey: SIM_API_KEY,
  rateLimit: { requests: options.rateLimit, windowMs: options.windowMs },
  latencyMs: () => {
    const { minMs, maxMs, tailShare, tailMaxMs } = options.latency;
    return random.chance(tailShare) ? random.int(maxMs, tailMaxMs) : random.int(minMs, maxMs);
  },
  onRequest: (request, pageNo) => {
    const eventId = new URL(request.url).searchParams.get('event_id') ?? '?';
    perEvent[eventId] ??= { requests: 0, firstPages: [] };
    const counts = perEvent[eventId];
    counts.requests++;
    if (pageNo === 1) counts.firstPages.push(Date.now());
  },
  fault: () => {
    if (Date.now() < downUntil) {
      failures.down++;
      return HttpResponse.error();
    }
    if (failOneIn > 0 && random.chance(1 / failOneIn)) {
      failures.injected++;
      return HttpResponse.json({ message: 'Internal error (injected by the soak)' }, { status: 500 });
    }
    return undefined;
  },
});

function setApproval(eventId: string, guestId: string, approved: boolean): ApprovalChange {
  const list = events[eventId];
  if (!Array.isArray(list)) throw new Error(`event ${eventId} has no editable list`);
  const guests = list as SimGuest[];
  const at = guests.findIndex((g) => g.id === guestId);
  if (at < 0) throw new Error(`no guest ${guestId} on ${eventId}`);
  // A new object: a page being built from the old one is not changed under it.
  guests[at] = { ...guests[at]!, approvalStatus: approved ? 'approved' : 'declined' };
  const change = { at: Date.now(), eventId, guestId, email: guests[at]!.email, approved };
  changes.push(change);
  return change;
}

const control = createServer(async (req, res) => {
  const body = req.method === 'POST' ? JSON.parse(Buffer.concat(await req.toArray()).toString() || '{}') : {};
  const reply = (status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  try {
    switch (req.url) {
      case '/register': {
        const list = events[body.eventId];
        if (!Array.isArray(list)) throw new Error(`event ${body.eventId} has no editable list`);
        const guest: SimGuest = { ...body.guest, approvalStatus: 'approved', registeredAt: new Date().toISOString() };
        (list as SimGuest[]).push(guest);
        const change = { at: Date.now(), eventId: body.eventId, guestId: guest.id, email: guest.email, approved: true };
        changes.push(change);
        return reply(200, change);
      }
      case '/decline':
        return reply(200, setApproval(body.eventId, body.guestId, false));
      case '/down':
        downUntil = Date.now() + Number(body.ms);
        return reply(200, { downUntil });
      case '/fail-one-in':
        failOneIn = Number(body.n);
        return reply(200, { failOneIn });
      case '/state':
        return reply(200, {
          lists: Object.fromEntries(Object.entries(events).filter(([, l]) => Array.isArray(l))),
          generated: options.generated,
          changes,
          stats: luma.stats,
          perEvent,
          failures,
          webhooks: luma.webhooks.webhooks.length,
        });
      default:
        return reply(404, { message: 'no such control' });
    }
  } catch (err) {
    reply(400, { message: (err as Error).message });
  }
});
control.listen(0, '127.0.0.1', () => {
  const { port } = control.address() as AddressInfo;
  console.log(JSON.stringify({ url: luma.url, controlUrl: `http://127.0.0.1:${port}` }));
});
process.once('SIGTERM', () => {
  control.close();
  void luma.stop().then(() => process.exit(0));
});
