import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

export interface CpuLoad {
  /** Stops the spinners and waits until they have exited. */
  stop(): Promise<void>;
}

/**
 * Loads the CPU on purpose: `processes` child processes that each spin one core, so a
 * figure measured meanwhile is the figure of a busy machine (a throttled node, noisy
 * neighbours), not of an idle one. Each spinner also exits by itself after `maxMs`, so a
 * bench killed without its `finally` leaves no spinning process behind.
 */
export async function startCpuLoad(processes: number, maxMs = 600_000): Promise<CpuLoad> {
  // Spins only once the message is out: a loop started first would keep it from being sent.
  const spin = `process.send('spinning', () => { const end = Date.now() + ${Math.round(maxMs)}; while (Date.now() < end) {} process.exit(0); });`;
  const children: ChildProcess[] = [];
  for (let i = 0; i < processes; i++) {
    const child = spawn(process.execPath, ['-e', spin], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    children.push(child);
  }
  await Promise.all(children.map((child) => once(child, 'message')));
  return {
    async stop() {
      await Promise.all(
        children.map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        }),
      );
    },
  };
}
