/**
 * A repair of fauxqs 2.4.1's on-disk queues, for the soak's SQS server (the only fauxqs
 * with a data folder here; the tests' in-memory fauxqs is not affected).
 *
 * Its ChangeMessageVisibility to 0 records the message as ready with
 * `UPDATE sqs_messages SET … approximate_receive_count = NULL …`, which the table's
 * NOT NULL refuses. The failure comes after the message left the in-flight set and before
 * it is queued again and its FIFO group unlocked: the message vanishes from the running
 * server and its group stays locked until the next restart (the 10-minute soak of
 * 2026-12-05: a worker's release at shutdown "failed", and the large event was never
 * synced again). This records only what changes: no receipt handle, no deadline.
 *
 * fauxqs's package exports only its entry point; its persistence module is the sibling
 * file the entry point itself imports, so this patches the very class the server uses.
 */
export async function repairMakeVisible(): Promise<void> {
  const entry = import.meta.resolve('fauxqs');
  const { PersistenceManager } = (await import(new URL('./persistence.js', entry).href)) as {
    PersistenceManager: { prototype: { updateMessageReady(messageId: string): void } };
  };
  type WithDb = { db: { prepare(sql: string): { run(...args: unknown[]): unknown } } };
  PersistenceManager.prototype.updateMessageReady = function (this: WithDb, messageId: string) {
    this.db
      .prepare('UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE message_id = ?')
      .run(messageId);
  };
}
