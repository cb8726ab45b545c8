import { createId } from '@paralleldrive/cuid2';

/**
 * A new row uid. The directory's Prisma client fills uid with a cuid on insert and the
 * database has no default, so every row we insert brings its own: cuid2 has the
 * same shape (lower-case, url-safe, ~24 chars) and is collision-resistant across processes.
 */
export const newUid: () => string = createId;
