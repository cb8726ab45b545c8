import type { Sql } from '../../src/db/client.ts';

/**
 * Records every start the shared Luma budget grants, as the database stamped it: each
 * grant is exactly one UPDATE of the key's row appending its grant time to "holds"
 * (migration 0009; a request's end moves a hold out, appending nothing new there).
 * Test-only, in the test's own database.
 */
export async function logBudgetStarts(sql: Sql): Promise<void> {
  await sql`CREATE TABLE public.budget_log ("key" text NOT NULL, started_at timestamptz NOT NULL)`;
  await sql`
    CREATE FUNCTION public.log_budget_start() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      granted timestamptz := NEW.holds[cardinality(NEW.holds)];
    BEGIN
      IF granted IS NOT NULL AND NOT (granted = ANY (OLD.holds)) THEN
        INSERT INTO public.budget_log VALUES (NEW.key, granted);
      END IF;
      RETURN NEW;
    END $$`;
  await sql`
    CREATE TRIGGER log_budget_start AFTER UPDATE ON luma_guest_sync.rate_budget
    FOR EACH ROW EXECUTE FUNCTION public.log_budget_start()`;
}

/** The logged starts (of `key`, or of every key), in ms after the first, on the database's clock. */
export async function loggedBudgetStarts(sql: Sql, key?: string): Promise<Array<{ ms: number; key: string }>> {
  const rows = await sql<{ ms: string; key: string }[]>`
    SELECT extract(epoch FROM started_at - min(started_at) OVER ()) * 1000 AS ms, "key"
    FROM public.budget_log WHERE ${key === undefined} OR "key" = ${key ?? ''} ORDER BY started_at`;
  return rows.map((r) => ({ ms: Number(r.ms), key: r.key }));
}
