import type { IncomingHttpHeaders } from 'node:http';
import type { Got } from 'got';

export interface BoundedResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A response whose body passed the cap: `bytes` were declared or read when it was cut. */
export class ResponseTooLargeError extends Error {
  readonly bytes: number;
  readonly maxBytes: number;
  readonly declared: boolean;

  constructor(bytes: number, maxBytes: number, declared: boolean) {
    super(`${declared ? '' : 'at least '}${bytes} bytes, over the cap of ${maxBytes}`);
    this.name = 'ResponseTooLargeError';
    this.bytes = bytes;
    this.maxBytes = maxBytes;
    this.declared = declared;
  }
}

/**
 * GET `path` and read its body, but never more than `maxBytes` of it (counted after
 * decompression, so a small gzip cannot unpack into a huge string): a Content-Length over
 * the cap ends the request before the body arrives, and a body that grows past it while
 * streaming is cut there and its connection destroyed. got's promise API would buffer the
 * whole body first; a 400 MiB body took the worker's peak RSS from 111 MiB to 968 MiB.
 * Rejects with ResponseTooLargeError, or with got's RequestError for network failures.
 */
export async function getBounded(
  http: Got,
  path: string,
  options: {
    searchParams: Record<string, string>;
    signal: AbortSignal;
    /** Called when the status line and headers have arrived: the server has the request. */
    onResponse?: () => void;
  },
  maxBytes: number,
): Promise<BoundedResponse> {
  const stream = http.stream(path, { searchParams: options.searchParams, signal: options.signal });
  let response: { statusCode: number; headers: IncomingHttpHeaders } | undefined;
  stream.once('response', (res: { statusCode: number; headers: IncomingHttpHeaders }) => {
    response = res;
    options.onResponse?.();
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      stream.destroy(new ResponseTooLargeError(declared, maxBytes, true));
    }
  });
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      // Leaving the loop by throwing destroys the stream and its socket.
      if (bytes > maxBytes) throw new ResponseTooLargeError(bytes, maxBytes, false);
      chunks.push(chunk);
    }
  } catch (err) {
    // got wraps the error a stream was destroyed with; unwrap ours.
    const cause = (err as { cause?: unknown } | null)?.cause;
    throw cause instanceof ResponseTooLargeError ? cause : err;
  }
  if (!response) throw new Error('the response ended before its status line');
  return { statusCode: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') };
}
