/** Variables test/run.ts hands to every test file. */
export const TEST_ENV = {
  adminDatabaseUrl: 'LGS_TEST_ADMIN_DATABASE_URL',
  sqsEndpoint: 'LGS_TEST_SQS_ENDPOINT',
  /** The admin URL through a PgBouncer in transaction mode (stock timeouts); any database name passes. */
  pgbouncerUrl: 'LGS_TEST_PGBOUNCER_URL',
} as const;

export function testEnv(name: keyof typeof TEST_ENV): string {
  const value = process.env[TEST_ENV[name]];
  if (!value)
    throw new Error(`${TEST_ENV[name]} is not set: run the tests with \`npm test\`, which starts the servers`);
  return value;
}
