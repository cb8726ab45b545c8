#!/usr/bin/env node
// The package's bin, so `npx luma-guest-sync <command>` works in a checkout. Node 24 runs
// src/main.ts itself by stripping its types; older Node cannot, so say so instead of a SyntaxError.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`luma-guest-sync needs Node.js 24 or later (this is ${process.version})\n`);
  process.exit(2);
}
const { runCli } = await import('./main.ts');
runCli();
