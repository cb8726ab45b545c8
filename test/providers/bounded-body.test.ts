/**
 * getBounded against a local HTTP server: where exactly the cap falls, for a declared and
 * a streamed length and a compressed body, and what a body within it comes back as. The
 * transport faults and the memory of a huge body are luma-bounded.test.ts's.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import got from 'got';
import { getBounded, ResponseTooLargeError } from '../../src/providers/bounded-body.ts';
import { closeServer } from '../support/close-server.ts';

const CAP = 1000;
/** Each route answers with a body of `n` bytes ('x'), as its name says. */
const routes: Record<string, (res: ServerResponse, n: number) => void> = {
  declared: (res, n) => {
    res.writeHead(200, { 'content-length': String(n), 'x-route': 'declared' });
    res.end('x'.repeat(n));
  },
  // No Content-Length: the body arrives in chunks of 100 bytes.
  chunked: (res, n) => {
    res.writeHead(201, { 'x-route': 'chunked' });
    for (let sent = 0; sent < n; sent += 100) res.write('x'.repeat(Math.min(100, n - sent)));
    res.end();
  },
  // A declared length far below the cap, unpacking to n bytes.
  gzip: (res, n) => {
    const body = gzipSync('x'.repeat(n));
    res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': String(body.length) });
    res.end(body);
  },
  // A header the cap cannot read as a length.
  'bad-length': (res, n) => {
    res.writeHead(200, { 'x-declared': 'none' });
    res.end('x'.repeat(n));
  },
};
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const route = routes[url.pathname.slice(1)];
  if (!route) return void res.writeHead(404).end();
  route(res, Number(url.searchParams.get('n')));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => closeServer(server));
const http = got.extend({
  prefixUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  retry: { limit: 0 },
  throwHttpErrors: false,
});

function fetch(route: string, n: number, onResponse?: () => void) {
  return getBounded(
    http,
    route,
    { searchParams: { n: String(n) }, signal: new AbortController().signal, onResponse },
    CAP,
  );
}

async function tooLarge(promise: Promise<unknown>): Promise<ResponseTooLargeError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ResponseTooLargeError, `expected ResponseTooLargeError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the body to be refused');
}

describe('getBounded', () => {
  it('returns the status, the headers and the whole body of an answer within the cap', async () => {
    let told = 0;
    const answer = await fetch('chunked', 350, () => told++);
    assert.equal(answer.statusCode, 201);
    assert.equal(answer.headers['x-route'], 'chunked');
    assert.equal(answer.body, 'x'.repeat(350));
    assert.equal(told, 1, 'told once that the answer had arrived');
  });

  it('reads a body of exactly the cap, declared or streamed', async () => {
    assert.equal((await fetch('declared', CAP)).body.length, CAP);
    assert.equal((await fetch('chunked', CAP)).body.length, CAP);
  });

  it('refuses a declared length one byte over the cap before reading the body, naming the declared size', async () => {
    const err = await tooLarge(fetch('declared', CAP + 1));
    assert.deepEqual([err.bytes, err.maxBytes, err.declared], [CAP + 1, CAP, true]);
    assert.equal(err.message, `${CAP + 1} bytes, over the cap of ${CAP}`);
  });

  it('cuts an undeclared body at the chunk that passes the cap, naming what it had read', async () => {
    const err = await tooLarge(fetch('chunked', CAP + 1));
    assert.deepEqual([err.bytes, err.maxBytes, err.declared], [CAP + 1, CAP, false]);
    assert.equal(err.message, `at least ${CAP + 1} bytes, over the cap of ${CAP}`);
    assert.equal((await tooLarge(fetch('bad-length', 5 * CAP))).declared, false);
  });

  it('counts a compressed body as it unpacks, not as it was sent', async () => {
    assert.equal((await fetch('gzip', CAP)).body.length, CAP);
    const err = await tooLarge(fetch('gzip', 50 * CAP));
    assert.equal(err.declared, false);
  });

  it('passes a transport failure on as it is', async () => {
    const refused = got.extend({ prefixUrl: 'http://127.0.0.1:1', retry: { limit: 0 } });
    await assert.rejects(
      getBounded(refused, 'declared', { searchParams: {}, signal: new AbortController().signal }, CAP),
      (err: Error & { code?: string }) => err.code === 'ECONNREFUSED',
    );
  });
});
