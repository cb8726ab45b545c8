import { createSocket, type RemoteInfo } from 'node:dgram';

/**
 * A tiny authoritative DNS server over UDP for one zone, so that a test can move a host
 * name to another address as a managed switchover does, and see what a real resolver
 * (PgBouncer's c-ares) makes of it. It answers:
 * - A for each name set with pointAt(), with the address and TTL given;
 * - AAAA for those names with no record (NOERROR, empty), so an AF_UNSPEC lookup falls
 *   back to A;
 * - SOA for the zone, with a serial that only nextSerial() increments (what PgBouncer's
 *   dns_zone_check_period polls; some DNS services change it with every record change,
 *   others never);
 * - NXDOMAIN for anything else.
 * Every question asked is recorded, in order, with the time it arrived. The caller stops it.
 */
export interface DnsServer {
  host: string;
  port: number;
  zone: string;
  /** `name` (inside the zone) answers `address` with `ttl` seconds from now on; the zone's serial stays. */
  pointAt(name: string, address: string, ttl?: number): void;
  /** Increments the zone's SOA serial. */
  nextSerial(): void;
  /** The questions received so far: name, type (A, AAAA, SOA or the number) and when. */
  questions: Array<{ name: string; type: string; at: number }>;
  stop(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_SOA = 6;
const TYPE_AAAA = 28;
const TYPE_NAMES: Record<number, string> = { [TYPE_A]: 'A', [TYPE_SOA]: 'SOA', [TYPE_AAAA]: 'AAAA' };
const RCODE_NXDOMAIN = 3;
const RCODE_FORMERR = 1;

/**
 * Listens on `host`:`port` (an OS-chosen port by default). PgBouncer's c-ares 1.18 asks
 * only port 53, which needs root or CAP_NET_BIND_SERVICE: binding it otherwise fails
 * saying so.
 */
export async function startDnsServer(zone: string, at: { host?: string; port?: number } = {}): Promise<DnsServer> {
  const host = at.host ?? '127.0.0.1';
  const records = new Map<string, { address: string; ttl: number }>();
  const questions: DnsServer['questions'] = [];
  let serial = 1;
  const socket = createSocket('udp4');
  socket.on('message', (query: Buffer, from: RemoteInfo) => {
    const answer = answerTo(query);
    if (answer) socket.send(answer, from.port, from.address);
  });

  function answerTo(query: Buffer): Buffer | undefined {
    if (query.length < 12) return undefined;
    const question = readQuestion(query, 12);
    if (!question) return reply(query, query.length, RCODE_FORMERR, []);
    const name = question.name.toLowerCase();
    questions.push({ name, type: TYPE_NAMES[question.type] ?? String(question.type), at: Date.now() });
    const questionEnd = question.end;
    const record = records.get(name);
    if (question.type === TYPE_A && record) {
      return reply(query, questionEnd, 0, [
        resource(TYPE_A, record.ttl, Buffer.from(record.address.split('.').map(Number))),
      ]);
    }
    if (question.type === TYPE_SOA && name === zone) {
      const soa = Buffer.concat([encodeName(`ns.${zone}`), encodeName(`admin.${zone}`), Buffer.alloc(20)]);
      const numbers = soa.length - 20;
      // serial, refresh, retry, expire, minimum
      for (const [i, n] of [serial, 60, 10, 600, 1].entries()) soa.writeUInt32BE(n, numbers + i * 4);
      return reply(query, questionEnd, 0, [resource(TYPE_SOA, 1, soa)]);
    }
    if (record || name === zone) return reply(query, questionEnd, 0, []);
    return reply(query, questionEnd, RCODE_NXDOMAIN, []);
  }

  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EACCES'
          ? new Error(
              `cannot listen for DNS on ${host}:${at.port}: a port below 1024 needs root or CAP_NET_BIND_SERVICE`,
              { cause: err },
            )
          : err,
      ),
    );
    socket.bind(at.port ?? 0, host, () => {
      socket.removeAllListeners('error');
      resolve();
    });
  });
  let stopped: Promise<void> | undefined;
  const server: DnsServer = {
    host,
    port: socket.address().port,
    zone,
    pointAt(name, address, ttl = 1) {
      records.set(name.toLowerCase(), { address, ttl });
    },
    nextSerial() {
      serial += 1;
    },
    questions,
    stop() {
      stopped ??= new Promise<void>((resolve) => socket.close(() => resolve()));
      return stopped;
    },
  };
  return server;
}

/** The question's name (dotted), type and where it ends, or undefined when malformed or compressed. */
function readQuestion(packet: Buffer, start: number): { name: string; type: number; end: number } | undefined {
  const labels: string[] = [];
  let at = start;
  while (at < packet.length) {
    const length = packet[at] ?? 0;
    if (length === 0) {
      if (at + 5 > packet.length) return undefined;
      return { name: labels.join('.'), type: packet.readUInt16BE(at + 1), end: at + 5 };
    }
    // A question is never compressed (it is the first name of the packet).
    if (length > 63) return undefined;
    labels.push(packet.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  return undefined;
}

function encodeName(name: string): Buffer {
  const parts = name
    .split('.')
    .map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** A resource record for the question's name (a pointer to offset 12), class IN. */
function resource(type: number, ttl: number, data: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt32BE(ttl, 6);
  head.writeUInt16BE(data.length, 10);
  return Buffer.concat([head, data]);
}

/** The query's header and question, turned into an authoritative answer with `answers`. */
function reply(query: Buffer, questionEnd: number, rcode: number, answers: Buffer[]): Buffer {
  const head = Buffer.from(query.subarray(0, questionEnd));
  const recursionDesired = (query.readUInt16BE(2) & 0x0100) !== 0;
  // QR (answer), AA (authoritative), RD copied, RA (recursion available), the rcode.
  head.writeUInt16BE(0x8000 | 0x0400 | (recursionDesired ? 0x0100 : 0) | 0x0080 | rcode, 2);
  head.writeUInt16BE(questionEnd > 12 ? 1 : 0, 4);
  head.writeUInt16BE(answers.length, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(0, 10);
  return Buffer.concat([head, ...answers]);
}
