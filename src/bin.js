#!/usr/bin/env node
// The package's bin: runs src/main.ts through tsx, so `npx luma-guest-sync <command>` works in a checkout.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('./main.ts');
runCli();
