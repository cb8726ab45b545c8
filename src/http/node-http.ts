/**
 * node:http's createServer, taken without an ES import of node:http.
 *
 * Why: Node 24 builds the ES module facade of a builtin by reading every one of its exports,
 * and node:http's WebSocket, CloseEvent and MessageEvent are lazy getters that load undici
 * (Node's fetch implementation, a 760 KB script). `import { createServer } from 'node:http'`
 * therefore loads undici, which the worker never uses: ~13 MB of RSS in a bare process,
 * held for the life of the daemon (docs/memory.md). process.getBuiltinModule returns the
 * CommonJS exports, whose getters stay unread. Type-only imports of node:http cost nothing.
 */
import type * as Http from 'node:http';

export const createServer: typeof Http.createServer = process.getBuiltinModule('node:http').createServer;
