/**
 * Shared helpers of the fault suite (test/faults/): secrets to watch for, a Luma server
 * that can misbehave at the socket level, database-side holds that stop a worker at a
 * chosen statement, and readers of the rows a sync leaves.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { after } from 'node:test';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { getResponse } from 'msw';
import postgres from 'postgres';
import type { Sql } from '../../src/db/client.ts';
import { freePort } from '../../src/local/free-port.ts';
import { createLumaHandlers, type SimGuestList } from '../../src/local/luma-simulator.ts';
import { closeServer } from './close-server.ts';
import { connectUpstream } from './tcp-relay.ts';
import { startWorkerProcess, type WorkerProcess } from './worker-process.ts';

/** Recognisable secrets: a Luma key and a database password that must never be shown. */
export const SECRET_LUMA_KEY = `lk_SECRET_${randomBytes(12).toString('hex')}`;
export const SECRET_DB_PASSWORD = `pw_SECRET_${randomBytes(12).toString('hex')}`;

/**
 * Everything a file's workers showed the outside world: every stdout line and all stderr
 * of every worker process, and every /readyz, /healthz and /metrics body fetched.
 */
export function createLeakWatch() {
  const workers: WorkerProcess[] = [];
  const bodies: Array<{ url: string; status: number; body: string }> = [];
  return {
    workers,
    bodies,
    /** Starts a worker process whose output is watched. */
    async startWorker(env: Record<string, string>): Promise<WorkerProcess> {
      const worker = await startWorkerProcess(env);
      workers.push(worker);
      return worker;
    },
    /** GETs a worker endpoint and keeps its body for the leak check. */
    async get(url: string): Promise<{ status: number; body: string }> {
      const response = await fetch(url);
      const body = await response.text();
      bodies.push({ url, status: response.status, body });
      return { status: response.status, body };
    },
    /** Fails when any watched text holds a secret; returns how much text was looked at. */
    assertNoSecrets(secrets: readonly string[] = [SECRET_LUMA_KEY, SECRET_DB_PASSWORD]) {
      const texts: Array<{ where: string; text: string }> = [];
      for (const [i, worker] of workers.entries()) {
        for (const line of worker.lines) texts.push({ where: `worker ${i} stdout`, text: JSON.stringify(line) });
        texts.push({ where: `worker ${i} stderr`, text: worker.stderr() });
      }
      for (const { url, body } of bodies) texts.push({ where: url, text: body });
      for (const secret of secrets) {
        // A fragment is enough to count as a leak: a truncated message still gives half a key away.
        const fragment = secret.slice(0, 16);
        for (const { where, text } of texts) {
          assert.ok(
            !text.includes(fragment),
            `${where} shows a secret (${secret.slice(0, 10)}…): ${excerptAround(text, fragment)}`,
          );
        }
      }
      return {
        lines: workers.reduce((n, w) => n + w.lines.length, 0),
        stderrChars: workers.reduce((n, w) => n + w.stderr().length, 0),
        bodies: bodies.length,
      };
    },
  };
}

function excerptAround(text: string, fragment: string): string {
  const at = text.indexOf(fragment);
  return text.slice(Math.max(0, at - 200), at + 60);
}

/**
 * A login role with SECRET_DB_PASSWORD on the server of `adminUrl`, and `databaseUrl`
 * rewritten to connect as it: the worker's DATABASE_URL then carries a password we know.
 */
export async function urlWithSecretPassword(adminUrl: string, databaseUrl: string): Promise<string> {
  const role = `lgs_fault_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE ROLE "${role}" LOGIN SUPERUSER PASSWORD '${SECRET_DB_PASSWORD}'`);
  } finally {
    await admin.end();
  }
  const url = new URL(databaseUrl);
  url.username = role;
  url.password = SECRET_DB_PASSWORD;
  return url.toString();
}

// ---------------------------------------------------------------------------------------
// A Luma that misbehaves on request.

/** What the server does with one request instead of answering it normally. */
export type LumaFault =
  /** An answer of this status and body (JSON unless `contentType` says otherwise). */
  | { kind: 'status'; status: number; body?: string; contentType?: string; headers?: Record<string, string> }
  /** Never answers; the client's timeout ends it. */
  | { kind: 'hang' }
  /** Answers normally once `until` resolves; drops the request if the client leaves first. */
  | { kind: 'hold'; until: Promise<void> }
  /** 200 with the headers of the full body, half of it, then the connection is destroyed. */
  | { kind: 'reset-mid-body' }
  /** 200 with the real body cut in half (and a Content-Length that agrees). */
  | { kind: 'truncate' }
  /** 200 with the real JSON body as `edit` returns it. */
  | { kind: 'rewrite'; edit: (body: Record<string, unknown>, request: LumaRequest) => unknown }
  /** The connection is destroyed before any answer: the client sees a reset ("socket hang up"). */
  | { kind: 'reset' }
  /**
   * 200 with a body of `bytes` bytes of whitespace-padded JSON, streamed in 1 MiB chunks as
   * fast as the client reads (Content-Length declared only with `declareLength`); stops when
   * the client goes away. `sent` counts the bytes handed to the socket.
   */
  | {
      kind: 'huge';
      bytes: number;
      declareLength?: boolean;
      /** Counts the bytes written; `ended` is called once the server stops writing, either way. */
      sent?: { bytes: number; ended?: () => void };
    };

export interface LumaRequest {
  eventId: string;
  /** 1-based page number, from the cursor. */
  page: number;
  /** The cursor this request sent, if any. */
  cursor: string | null;
  /** How many requests for this event and page arrived so far, this one included. */
  attempt: number;
  /** Every request for this event so far, this one included. */
  eventRequest: number;
  apiKey: string | undefined;
  at: number;
}

export type LumaScript = (request: LumaRequest) => LumaFault | undefined;

export interface FaultyLuma {
  url: string;
  /** Every request, in arrival order. */
  requests: LumaRequest[];
  /** Sets (or with undefined clears) the fault script of one Luma event id. */
  script(eventId: string, script: LumaScript | undefined): void;
  /** Resolves with the first request (past or future) matching `predicate`. */
  waitForRequest(predicate: (r: LumaRequest) => boolean, timeoutMs?: number): Promise<LumaRequest>;
  /** Faults served, by kind. */
  faultsServed: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * The Luma simulator's handlers behind an HTTP server of our own, so a fault can reach
 * the socket (a reset mid-body, a hung connection) as well as the answer. Stopped after
 * the test file.
 */
export async function startFaultyLuma(options: {
  events: Record<string, SimGuestList>;
  apiKey: string;
  maxPageSize?: number;
}): Promise<FaultyLuma> {
  const handlers = createLumaHandlers({
    events: options.events,
    apiKey: options.apiKey,
    maxPageSize: options.maxPageSize,
  });
  const scripts = new Map<string, LumaScript>();
  const requests: LumaRequest[] = [];
  const counts = new Map<string, number>();
  const faultsServed = new Map<string, number>();
  const waiters: Array<{ predicate: (r: LumaRequest) => boolean; resolve: (r: LumaRequest) => void }> = [];

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const url = new URL(req.url ?? '/', 'http://luma.test');
    const eventId = url.searchParams.get('event_id') ?? url.searchParams.get('event_api_id') ?? '';
    const cursor = url.searchParams.get('pagination_cursor');
    const page = cursor ? pageOfCursor(cursor) : 1;
    const pageKey = `${eventId} ${page}`;
    counts.set(pageKey, (counts.get(pageKey) ?? 0) + 1);
    counts.set(eventId, (counts.get(eventId) ?? 0) + 1);
    const apiKey = req.headers['x-luma-api-key'];
    const request: LumaRequest = {
      eventId,
      page,
      cursor,
      attempt: counts.get(pageKey)!,
      eventRequest: counts.get(eventId)!,
      apiKey: typeof apiKey === 'string' ? apiKey : undefined,
      at: Date.now(),
    };
    requests.push(request);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(request)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(request);
      }
    }

    const fault = scripts.get(eventId)?.(request);
    if (fault) faultsServed.set(fault.kind, (faultsServed.get(fault.kind) ?? 0) + 1);
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'huge') {
      try {
        await streamHugeBody(res, fault, gone.signal);
      } finally {
        fault.sent?.ended?.();
      }
      return;
    }
    if (fault?.kind === 'status') {
      res.writeHead(fault.status, { 'content-type': fault.contentType ?? 'application/json', ...fault.headers });
      res.end(fault.body ?? JSON.stringify({ message: `fault ${fault.status}` }));
      return;
    }
    if (fault?.kind === 'hold') {
      const left = new Promise<'left'>((resolve) => gone.signal.addEventListener('abort', () => resolve('left')));
      if ((await Promise.race([fault.until.then(() => 'go' as const), left])) === 'left') return;
    }

    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      for (const item of Array.isArray(value) ? value : [value ?? '']) headers.append(name, item);
    }
    const response = await getResponse(handlers, new Request(url, { headers, signal: gone.signal }));
    if (!response) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not found"}');
      return;
    }
    let body = Buffer.from(await response.arrayBuffer());
    const responseHeaders = Object.fromEntries(response.headers);
    if (fault?.kind === 'rewrite' && response.status === 200) {
      body = Buffer.from(JSON.stringify(fault.edit(JSON.parse(body.toString('utf8')), request)));
    }
    if (fault?.kind === 'truncate') body = body.subarray(0, Math.floor(body.length / 2));
    if (fault?.kind === 'reset-mid-body') {
      res.writeHead(200, { ...responseHeaders, 'content-length': String(body.length) });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
        // Give the half a moment on the wire, then cut the connection under it.
        setTimeout(() => req.socket.destroy(), 20);
      });
      return;
    }
    res.writeHead(response.status, { ...responseHeaders, 'content-length': String(body.length) });
    res.end(body);
  }

  const server = createServer((req, res) => {
    serve(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('fault server error');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const luma: FaultyLuma = {
    url: `http://127.0.0.1:${port}`,
    requests,
    faultsServed,
    script(eventId, script) {
      if (script) scripts.set(eventId, script);
      else scripts.delete(eventId);
    },
    waitForRequest(predicate, timeoutMs = 30_000) {
      const seen = requests.find(predicate);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching Luma request within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
        });
      });
    },
    // close() alone would wait for good for a request in flight (a 'hang' or 'hold' fault).
    stop: () => closeServer(server),
  };
  after(() => luma.stop());
  return luma;
}

/** A JSON page padded with spaces to `bytes`, written with backpressure until done or the client leaves. */
async function streamHugeBody(
  res: ServerResponse,
  fault: { bytes: number; declareLength?: boolean; sent?: { bytes: number } },
  gone: AbortSignal,
): Promise<void> {
  const head = Buffer.from('{"entries":[],"has_more":false');
  const tail = Buffer.from('}');
  const chunk = Buffer.alloc(1024 * 1024, ' ');
  res.writeHead(200, {
    'content-type': 'application/json',
    ...(fault.declareLength ? { 'content-length': String(fault.bytes) } : {}),
  });
  const write = async (buffer: Buffer): Promise<boolean> => {
    if (gone.aborted || res.destroyed) return false;
    if (fault.sent) fault.sent.bytes += buffer.length;
    if (!res.write(buffer)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          gone.removeEventListener('abort', done);
          resolve();
        };
        res.on('drain', done);
        gone.addEventListener('abort', done);
      });
    }
    return !gone.aborted;
  };
  let left = fault.bytes - head.length - tail.length;
  if (!(await write(head))) return;
  while (left > 0) {
    const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= part.length;
    if (!(await write(part))) return;
  }
  res.end(tail);
}

/** The page number inside a simulator cursor (base64url JSON [eventId, offset, page]). */
function pageOfCursor(cursor: string): number {
  try {
    const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    return typeof decoded[2] === 'number' ? decoded[2] : 0;
  } catch {
    return 0;
  }
}

/** A gate: `open()` lets every waiter on `opened` through. */
export function createGate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

// ---------------------------------------------------------------------------------------
// Database-side holds.

export interface Hold {
  /** The backend pid of the transaction holding the lock. */
  pid: number;
  /** Rolls the holding transaction back. */
  release(): Promise<void>;
}

class Rollback extends Error {}

/**
 * Opens a transaction, runs `setup` in it (take a lock, insert a conflicting row) and
 * keeps it open until `release()`, which rolls it back.
 */
export async function holdInTransaction(
  sql: Sql,
  setup: (tx: postgres.TransactionSql) => Promise<unknown>,
): Promise<Hold> {
  const gate = createGate();
  let ready!: (pid: number) => void;
  const pidKnown = new Promise<number>((resolve) => {
    ready = resolve;
  });
  const done = sql
    .begin(async (tx) => {
      const [row] = await tx<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      await setup(tx);
      ready(row!.pid);
      await gate.opened;
      throw new Rollback();
    })
    .catch((err) => {
      if (!(err instanceof Rollback)) throw err;
    });
  const pid = await Promise.race([pidKnown, done.then(() => Promise.reject(new Error('hold ended early')))]);
  return {
    pid,
    async release() {
      gate.open();
      await done;
    },
  };
}

/** Backends waiting on a lock `holder` has. */
export async function blockedBy(sql: Sql, holder: number): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${holder}::int = ANY(pg_blocking_pids(pid))`;
  return row!.n;
}

/**
 * Backends of this database, logged in as another role than the test's (the workers' role
 * from urlWithSecretPassword), still running a statement: orphans of a killed worker included.
 */
export async function activeWorkerBackends(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND usename <> current_user AND state <> 'idle'`;
  return row!.n;
}

// ---------------------------------------------------------------------------------------
// Rows and messages.

/** The synced rows of an event as sorted "memberUid|teamUid|externalGuestId" keys. */
export async function syncedRows(sql: Sql, eventUid: string): Promise<string[]> {
  const rows = await sql<{ key: string }[]>`
    SELECT "memberUid" || '|' || coalesce("teamUid", '-') || '|' || "externalGuestId" AS key
    FROM "PLEventGuest" WHERE "eventUid" = ${eventUid} AND "externalGuestId" IS NOT NULL`;
  return rows.map((r) => r.key).sort();
}

/** Every (event, location, member) listed more than once, directory rows included. */
export async function duplicateGuests(sql: Sql): Promise<string[]> {
  const rows = await sql<{ key: string }[]>`
    SELECT "eventUid" || '/' || "memberUid" || ' x' || count(*) AS key FROM "PLEventGuest"
    GROUP BY "eventUid", "locationUid", "memberUid" HAVING count(*) > 1`;
  return rows.map((r) => r.key);
}

export async function lastSyncedAt(sql: Sql, eventUid: string): Promise<Date | null> {
  const [row] = await sql<
    { at: Date | null }[]
  >`SELECT "guestLastSyncedAt" AS at FROM "PLEvent" WHERE uid = ${eventUid}`;
  return row?.at ?? null;
}

/** Every column of the rows the directory created (externalGuestId null), for before/after comparison. */
export async function directoryRows(sql: Sql): Promise<string> {
  const rows = await sql`SELECT * FROM "PLEventGuest" WHERE "externalGuestId" IS NULL ORDER BY id`;
  return JSON.stringify(rows);
}

export interface EventRef {
  uid: string;
  externalEventId: string | null;
  locationUid: string | null;
}

/** Puts one sync message for `event` on the queue, its own group. */
export async function sendSync(sqs: SQSClient, queueUrl: string, event: EventRef): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify({
        eventUid: event.uid,
        externalEventId: event.externalEventId,
        locationUid: event.locationUid,
        providerType: 'LUMA',
      }),
      MessageGroupId: event.uid,
      MessageDeduplicationId: randomUUID(),
    }),
  );
}

/** Log predicates for a worker's JSON lines. */
export const logs = {
  syncComplete: (eventUid: string) => (l: Record<string, unknown>) =>
    l.msg === 'sync complete' && l.eventUid === eventUid,
  /** The line of the statement that wrote `page`: one statement may carry pages `page` to `lastPage`. */
  pageProcessed: (eventUid: string, page: number) => (l: Record<string, unknown>) =>
    l.msg === 'page processed' &&
    l.eventUid === eventUid &&
    Number(l.page) <= page &&
    page <= Number(l.lastPage ?? l.page),
};

/**
 * The receive count of the delivery that completed `eventUid`'s sync, from the worker's
 * debug lines (sendSync makes the event uid the message group).
 */
export function completingReceiveCount(worker: WorkerProcess, eventUid: string): number | undefined {
  const done = worker.lines.findIndex(logs.syncComplete(eventUid));
  for (let i = done; i >= 0; i--) {
    const line = worker.lines[i]!;
    if (line.msg === 'sync message received' && line.groupId === eventUid) return Number(line.receiveCount);
  }
  return undefined;
}

/** Polls `check` every 50 ms until it holds; fails after `timeoutMs` naming `what`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

/**
 * `promise`'s outcome, or a failure naming `what` did not happen within `timeoutMs`: it
 * turns a hang (a statement never answered, a sync that never ends) into a named failure
 * without asserting any speed (the limits are generous for a busy machine).
 */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------
// A network path that can be cut.

export interface CuttableLink {
  /** Where clients connect: 127.0.0.1 and a port that stays the same across cuts. */
  port: number;
  url: string;
  /** Stops accepting and destroys every open connection: clients then see ECONNREFUSED. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  /** Connections accepted so far. */
  connections(): number;
}

/**
 * A TCP relay to `target` (host:port) on a fixed loopback port, which the test can cut
 * and restore: a server that is unreachable for one client while it keeps its state and
 * serves everybody else. Starts cut when `startCut` is set. Closed after the test file.
 */
export async function startCuttableLink(
  target: { host: string; port: number },
  options: { startCut?: boolean } = {},
): Promise<CuttableLink> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let accepted = 0;
  let server: Server | undefined;

  function relay(client: Socket): void {
    accepted++;
    const upstream = connectUpstream(client, target, sockets);
    client.pipe(upstream).pipe(client);
  }

  const link: CuttableLink = {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => accepted,
    async restore() {
      if (server) return;
      const next = createNetServer(relay);
      await new Promise<void>((resolve, reject) => {
        next.once('error', reject);
        next.listen(port, '127.0.0.1', () => resolve());
      });
      server = next;
    },
    async cut() {
      const current = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
    },
  };
  if (!options.startCut) await link.restore();
  after(() => link.cut());
  return link;
}
