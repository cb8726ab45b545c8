/**
 * The webhook server's answers, with its collaborators (signature check, directory lookup,
 * debouncer) replaced by functions the test controls: each outcome's status, body and
 * metric, what is logged, and the body-size cap on both of its paths (declared length and
 * streamed bytes). receiver.test.ts runs the same server wired as the daemon wires it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import type { Offer } from '../../src/webhooks/debounce.ts';
import type { LinkedEvent } from '../../src/webhooks/linked-events.ts';
import { LookupCappedError } from '../../src/webhooks/lookup-gate.ts';
import { MAX_BODY_BYTES, startWebhookServer, WEBHOOK_PATH, type WebhookServerDeps } from '../../src/webhooks/server.ts';
import { SignatureError } from '../../src/webhooks/verify.ts';
import { captureLogger } from '../support/sqs-queue.ts';

const linked = (uid: string): LinkedEvent => ({
  eventUid: uid,
  externalEventId: 'evt-1',
  locationUid: 'loc',
  providerType: 'LUMA',
});
const guest = (id = 'evt-1') => JSON.stringify({ type: 'guest.registered', data: { event: { id } } });

async function server(overrides: Partial<WebhookServerDeps> = {}) {
  const { log, lines } = captureLogger();
  const outcomes: string[] = [];
  const looked: string[] = [];
  const offered: string[] = [];
  const running = await startWebhookServer({
    port: 0,
    host: '127.0.0.1',
    findLinkedEvents: async (id) => {
      looked.push(id);
      return [linked('ev-a')];
    },
    offer: (event) => {
      offered.push(event.eventUid);
      return 'scheduled';
    },
    log,
    onOutcome: (o) => outcomes.push(o),
    ...overrides,
  });
  after(() => running.close(), BOUNDED);
  const url = `http://127.0.0.1:${running.port}${WEBHOOK_PATH}`;
  const post = async (body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, res, text };
  };
  return { running, url, post, outcomes, looked, offered, lines };
}

/** Each test's own limit: a server that never answers fails it in seconds, not at the runner's limit. */
const BOUNDED = { timeout: 10_000 };

/** A raw connection to the server: what it has answered so far, and when the server ended it. */
async function connection(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let reply = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    reply += chunk;
  });
  const ended = new Promise((resolve) => socket.once('close', resolve));
  return { socket, reply: () => reply, ended };
}

/** Sends raw HTTP and resolves with the whole reply once the server closes the connection. */
function raw(port: number, chunks: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) break;
        socket.write(chunk);
        await new Promise((r) => setImmediate(r));
      }
    });
    let reply = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      reply += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(reply));
    setTimeout(() => reject(new Error(`still open after 20 s; got: ${reply}`)), 20_000).unref();
  });
}

describe('the webhook server', () => {
  it(
    'accepts a guest delivery: 202, the linked events offered, one info line, the outcome counted',
    BOUNDED,
    async () => {
      const s = await server({
        findLinkedEvents: async () => [linked('ev-a'), linked('ev-b')],
      });
      const answer = await s.post(guest('evt-7'));
      assert.equal(answer.status, 202);
      assert.deepEqual(answer.body, { outcome: 'accepted', detail: '2 event(s)' });
      assert.equal(answer.res.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(answer.res.headers.get('cache-control'), 'no-store');
      assert.ok(answer.text.endsWith('\n'));
      assert.deepEqual(s.outcomes, ['accepted']);
      const line = s.lines.find((l) => l.msg === 'webhook delivery');
      assert.equal(line?.level, 30);
      assert.equal(line?.type, 'guest.registered');
      assert.equal(line?.lumaEventId, 'evt-7');
      assert.deepEqual(line?.eventUids, ['ev-a', 'ev-b']);
      assert.equal(line?.result, 'accepted');
    },
  );

  it(
    'says accepted when any linked event was scheduled, else coalesced when any joined a send, else capped',
    BOUNDED,
    async () => {
      const cases: Array<[Offer[], string]> = [
        [['capped', 'coalesced', 'scheduled'], 'accepted'],
        [['capped', 'coalesced'], 'coalesced'],
        [['coalesced', 'capped'], 'coalesced'],
        [['capped', 'capped'], 'capped'],
      ];
      for (const [offers, expected] of cases) {
        let next = 0;
        const s = await server({
          findLinkedEvents: async () => offers.map((_, i) => linked(`ev-${i}`)),
          offer: () => offers[next++]!,
        });
        const answer = await s.post(guest());
        assert.equal(answer.status, 202, `${offers.join(',')}`);
        assert.equal(answer.body.outcome, expected, `${offers.join(',')}`);
        assert.deepEqual(s.outcomes, [expected]);
      }
    },
  );

  it(
    'answers 200 to a delivery linked to no syncable event, and to a type that changes no guest list',
    BOUNDED,
    async () => {
      const s = await server({ findLinkedEvents: async () => [] });
      const unknown = await s.post(guest());
      assert.equal(unknown.status, 200);
      assert.equal(unknown.body.outcome, 'unknown_event');
      const other = await s.post(JSON.stringify({ type: 'event.updated', data: {} }));
      assert.equal(other.status, 200);
      assert.deepEqual(other.body, { outcome: 'ignored', detail: 'type event.updated does not change a guest list' });
      assert.deepEqual(s.outcomes, ['unknown_event', 'ignored']);
    },
  );

  it('answers 202 capped, without an error line, when the lookup cap drops a delivery', BOUNDED, async () => {
    const s = await server({
      findLinkedEvents: async () => {
        throw new LookupCappedError();
      },
    });
    const answer = await s.post(guest());
    assert.equal(answer.status, 202);
    assert.equal(answer.body.outcome, 'capped');
    assert.deepEqual(s.outcomes, ['capped']);
    assert.equal(s.lines.filter((l) => l.level >= 50).length, 0);
  });

  it('answers 503 when the directory cannot be read, so that Luma delivers again, and logs why', BOUNDED, async () => {
    const s = await server({
      findLinkedEvents: async () => {
        throw new Error('connection refused');
      },
    });
    const answer = await s.post(guest('evt-down'));
    assert.equal(answer.status, 503);
    assert.equal(answer.body.outcome, 'unavailable');
    assert.deepEqual(s.outcomes, ['unavailable']);
    const line = s.lines.find((l) => l.msg === 'webhook: could not look up the linked events');
    assert.equal(line?.level, 50);
    assert.equal(line?.lumaEventId, 'evt-down');
    assert.ok(line?.err);
  });

  it('answers 400 naming the problem to a malformed delivery, and logs the reason', BOUNDED, async () => {
    const s = await server();
    const answer = await s.post('{"type":"guest.updated"}');
    assert.equal(answer.status, 400);
    assert.equal(answer.body.outcome, 'bad_request');
    assert.match(String(answer.body.detail), /guest\.updated without a data object/);
    assert.deepEqual(s.outcomes, ['bad_request']);
    assert.deepEqual(s.looked, [], 'no lookup for a bad delivery');
    const line = s.lines.find((l) => l.msg === 'webhook delivery rejected');
    assert.equal(line?.level, 40);
    assert.match(String(line?.reason), /without a data object/);
  });

  it(
    'checks the signature before reading the delivery: 401 for a bad one, logged with its reason and the delivery id',
    BOUNDED,
    async () => {
      const checked: Array<{ body: string; id: unknown }> = [];
      const s = await server({
        verify: (body, headers) => {
          checked.push({ body, id: headers['webhook-id'] });
          if (headers['webhook-signature'] !== 'good') throw new SignatureError('No matching signature found');
        },
      });
      const longId = `msg_${'x'.repeat(300)}`;
      const forged = await s.post(guest(), { 'webhook-id': longId, 'webhook-signature': 'bad' });
      assert.equal(forged.status, 401);
      assert.deepEqual(forged.body, { outcome: 'unauthorized', detail: 'signature verification failed' });
      // Unparseable, but forged: 401, not 400 (the signature is checked first).
      assert.equal((await s.post('{not json', { 'webhook-signature': 'bad' })).status, 401);
      assert.deepEqual(s.looked, []);
      const good = await s.post(guest(), { 'webhook-signature': 'good' });
      assert.equal(good.status, 202);
      assert.equal(checked[0]?.body, guest(), 'the raw body is what is verified');
      assert.equal(checked[0]?.id, longId);
      assert.deepEqual(s.outcomes, ['unauthorized', 'unauthorized', 'accepted']);
      const line = s.lines.find((l) => l.msg === 'webhook signature rejected');
      assert.equal(line?.level, 40);
      assert.equal(line?.reason, 'No matching signature found');
      assert.equal(line?.webhookId, longId.slice(0, 100), 'an attacker’s header is cut short in the log');
      const unnamed = s.lines.filter((l) => l.msg === 'webhook signature rejected')[1];
      assert.equal(unnamed?.webhookId, undefined);
    },
  );

  it('answers 500, and counts no outcome, when a check fails in a way it does not know', BOUNDED, async () => {
    const s = await server({
      verify: () => {
        throw new TypeError('verifier broken');
      },
    });
    const answer = await s.post(guest());
    assert.equal(answer.status, 500);
    assert.deepEqual(answer.body, { error: 'internal error' });
    assert.deepEqual(s.outcomes, []);
    const line = s.lines.find((l) => l.msg === 'webhook handler failed');
    assert.equal(line?.level, 50);
    assert.ok(line?.err);
  });

  it('answers 500 when the debouncer throws', BOUNDED, async () => {
    const s = await server({
      offer: () => {
        throw new Error('debouncer broken');
      },
    });
    assert.equal((await s.post(guest())).status, 500);
    assert.deepEqual(s.outcomes, []);
  });

  it(
    'answers 404 off its path and 405 with Allow: POST to other methods, counting neither as a delivery',
    BOUNDED,
    async () => {
      const s = await server();
      const other = await fetch(s.url.replace(WEBHOOK_PATH, '/webhooks/other'), { method: 'POST', body: guest() });
      assert.equal(other.status, 404);
      assert.deepEqual(await other.json(), { error: 'not found' });
      const withQuery = await fetch(`${s.url}?from=luma`, { method: 'POST', body: guest() });
      assert.equal(withQuery.status, 202, 'the path is matched without its query');
      await withQuery.text();
      const get = await fetch(s.url);
      assert.equal(get.status, 405);
      assert.equal(get.headers.get('allow'), 'POST');
      assert.deepEqual(await get.json(), { error: 'method not allowed' });
      assert.deepEqual(s.outcomes, ['accepted']);
    },
  );

  it(
    'reads a body of exactly the cap, and answers 413 and closes the connection past it, declared or streamed',
    BOUNDED,
    async () => {
      const s = await server({ findLinkedEvents: async () => [] });
      const atCap = JSON.stringify({ type: 'event.updated', pad: '' });
      const padded = atCap.replace('"pad":""', `"pad":"${'x'.repeat(MAX_BODY_BYTES - atCap.length)}"`);
      assert.equal(Buffer.byteLength(padded), MAX_BODY_BYTES);
      assert.equal((await s.post(padded)).status, 200);

      const declared = await s.post(`${padded} `);
      assert.equal(declared.status, 413);
      assert.equal(declared.body.outcome, 'too_large');
      assert.equal(declared.res.headers.get('connection'), 'close');

      // Chunked, no Content-Length: the cap is found while reading.
      const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
      const half = 'x'.repeat(MAX_BODY_BYTES / 2);
      const reply = await raw(s.running.port, [
        `POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`,
        chunk(half),
        chunk(half),
        chunk('xx'),
        '0\r\n\r\n',
      ]);
      assert.match(reply, /^HTTP\/1\.1 413/);
      assert.match(reply, /connection: close/i);
      assert.deepEqual(s.outcomes, ['ignored', 'too_large', 'too_large']);
    },
  );

  it('answers 413 to a declared length past the cap at once, without waiting for the body', BOUNDED, async () => {
    const s = await server();
    const socket = net.connect(s.running.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`);
    const reply = await new Promise<string>((resolve, reject) => {
      socket.setEncoding('utf8').once('data', resolve);
      // The request timeout (15 s) would end it otherwise; the answer needs no body at all.
      setTimeout(() => reject(new Error('no answer before the body was sent')), 10_000).unref();
    });
    socket.destroy();
    assert.match(reply, /^HTTP\/1\.1 413/);
    assert.deepEqual(s.outcomes, ['too_large']);
  });

  it('answers an oversized body the client is still sending with 413, reading the rest away', BOUNDED, async () => {
    const s = await server();
    // Far more than the socket buffers hold: unread, the client could never finish sending it.
    const res = await fetch(s.url, { method: 'POST', body: 'x'.repeat(4 * 1024 * 1024) });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { outcome?: string }).outcome, 'too_large');
  });

  it('counts no outcome for a client that went away mid-body, and logs the failed read', BOUNDED, async () => {
    const s = await server();
    const socket = net.connect(s.running.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"type":`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    const deadline = Date.now() + 10_000;
    while (!s.lines.some((l) => l.msg === 'webhook handler failed') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(
      s.lines.some((l) => l.msg === 'webhook handler failed'),
      'the aborted read ends the request as a failure',
    );
    assert.deepEqual(s.outcomes, [], 'not counted as a delivery of any kind');
  });

  it('reads a chunked body whole when it stays within the cap', BOUNDED, async () => {
    const s = await server();
    const body = guest('evt-chunked');
    const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    const reply = await raw(s.running.port, [
      `POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n`,
      chunk(body.slice(0, 10)),
      chunk(body.slice(10)),
      '0\r\n\r\n',
    ]);
    assert.match(reply, /^HTTP\/1\.1 202/);
    assert.deepEqual(s.looked, ['evt-chunked']);
  });

  it('says where it listens and whether deliveries are verified, and closes idempotently', BOUNDED, async () => {
    const unsigned = await server();
    const line = unsigned.lines.find((l) => l.msg === 'webhook receiver listening');
    assert.equal(line?.port, unsigned.running.port);
    assert.equal(line?.path, WEBHOOK_PATH);
    assert.equal(line?.verified, false);
    const signed = await server({ verify: () => {} });
    assert.equal(signed.lines.find((l) => l.msg === 'webhook receiver listening')?.verified, true);

    const first = unsigned.running.close();
    assert.equal(unsigned.running.close(), first, 'a second close() is the same close');
    await first;
    await assert.rejects(fetch(unsigned.url, { method: 'POST', body: guest() }));
  });

  it('closes promptly while a client holds an idle keep-alive connection', BOUNDED, async () => {
    const s = await server();
    const socket = net.connect(s.running.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: ${guest().length}\r\n\r\n${guest()}`);
    await new Promise((resolve) => socket.once('data', resolve));
    // The connection stays open (keep-alive); close() must not wait for the client to go.
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await s.running.close();
    await closed;
  });
  it('closes a keep-alive connection whose request was in flight at close(), after answering it', BOUNDED, async () => {
    // A load balancer or Luma keeping the connection busy must not hold the replica's
    // shutdown until its grace runs out (the soak of 2026-12-07 saw one exit 1 so).
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let lookups = 0;
    const s = await server({
      findLinkedEvents: async () => {
        lookups++;
        await held;
        return [linked('ev-a')];
      },
    });
    const client = await connection(s.running.port);
    client.socket.write(
      `POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: ${guest().length}\r\n\r\n${guest()}`,
    );
    while (lookups === 0) await new Promise((resolve) => setTimeout(resolve, 5));

    const closing = s.running.close();
    release();
    await client.ended;
    await closing;
    assert.match(client.reply(), /^HTTP\/1\.1 202/);
    assert.match(client.reply(), /\r\nconnection: close\r\n/i, 'the answer tells the client the connection ends');
  });

  it('ends a connection whose request body was still arriving at close(), after answering it', BOUNDED, async () => {
    const s = await server();
    const client = await connection(s.running.port);
    // The server says "100 Continue" once it has the headers: the request has begun.
    client.socket.write(
      `POST ${WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${guest().length}\r\n\r\n`,
    );
    while (!client.reply().includes('100 Continue')) await new Promise((resolve) => setTimeout(resolve, 5));

    const closing = s.running.close();
    client.socket.write(guest());
    await client.ended;
    await closing;
    assert.match(client.reply(), /\r\n\r\nHTTP\/1\.1 202/);
    assert.match(client.reply(), /\r\nconnection: close\r\n/i);
  });
});
