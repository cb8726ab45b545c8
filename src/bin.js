#!/usr/bin/env node
// The package's bin, so `npx luma-guest-sync <command>` works in a checkout. Node 24 runs
// src/main.ts itself by stripping its types; older Node cannot, so say so instead of a SyntaxError.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  // The npm scripts provision Node 24 into this cache (.ci/node24.sh); point there.
  process.stderr.write(
    `luma-guest-sync needs Node.js 24 or later (this is ${process.version}).\n` +
      'In a checkout, run it through the Node 24 the npm scripts install: sh .ci/node24.sh npx luma-guest-sync <command>\n' +
      '(or put ~/.cache/luma-guest-sync/node24/node_modules/.bin first on PATH once `npm test` or `npm start` has provisioned it).\n',
  );
  process.exit(2);
}
const { runCli } = await import('./main.ts');
runCli();
