import { randomBytes } from 'node:crypto';

/** Lower-case base32: 32 symbols, so every random byte maps to one without bias. */
const ALPHABET = '0123456789abcdefghijklmnopqrstuv';
const LENGTH = 24;
const POOL_IDS = 512;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * A new row uid. The directory's Prisma client fills uid with a cuid on insert and the
 * database has no default, so every row we insert brings its own, of the same shape:
 * "c" and 24 lower-case alphanumerics, 120 random bits (collision-free in practice,
 * across processes). Random bytes are drawn in pools: a page of 100 guests needs 100
 * ids, and cuid2's hashing cost ~0.1 ms each on the hot path.
 */
export function newUid(): string {
  if (offset + LENGTH > pool.length) {
    pool = randomBytes(LENGTH * POOL_IDS);
    offset = 0;
  }
  let uid = 'c';
  for (let i = 0; i < LENGTH; i++) uid += ALPHABET[pool[offset + i]! & 31];
  offset += LENGTH;
  return uid;
}
