// Stryker for `npm run test:mutation` (docs/mutation.md). Started by test/mutation/run.ts,
// which starts PostgreSQL and the SQS server once for the whole run and says, through the
// LGS_MUTATION_* variables below, which modules to mutate and which test files to run.
const fromEnv = (name, fallback) => (process.env[name] ? JSON.parse(process.env[name]) : fallback);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  tap: {
    testFiles: fromEnv('LGS_MUTATION_TEST_FILES', ['test/**/*.test.ts']),
    // Node 24 strips the types itself; Stryker's hook file goes first. Node's default
    // reporter is `spec` even into a pipe: the runner reads TAP, so ask for it.
    nodeArgs: ['-r', '{{hookFile}}', '--test-reporter=tap', '--test-timeout=180000', '{{testFile}}'],
    // Stop a test file at its first failing test: the mutant is killed.
    forceBail: true,
  },
  plugins: ['@stryker-mutator/tap-runner', './test/mutation/ignore-sql-and-messages.ts'],
  // SQL text, log messages and error messages: see the plugin; SQL is mutated by hand.
  ignorers: ['sql-and-messages'],
  mutate: fromEnv('LGS_MUTATION_MUTATE', ['src/{sync,providers,webhooks,consume,schedule,status}/**/*.ts']),
  coverageAnalysis: 'perTest',
  // Two cores shared by everyone: one test file at a time, each against the shared servers.
  concurrency: 1,
  // Stryker rewrites tsconfig.json's paths with the `typescript` package's JS API, which
  // TypeScript 7 no longer has. Node runs the .ts files without it: point Stryker at no file.
  tsconfigFile: '.stryker-no-tsconfig.json',
  timeoutMS: 60_000,
  // deploy/ but the driver's fix, which test/db/driver-write-fix.test.ts runs.
  ignorePatterns: ['.local', '.tmp', 'test/bench', 'test/container', 'deploy/*', '!deploy/postgres-driver-fix.mjs', 'README.md'],
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
