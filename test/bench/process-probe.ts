import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Sql } from '../../src/db/client.ts';

const MiB = 2 ** 20;
/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** A live process's resident memory now and its high-water mark, from /proc (Linux). */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: (kib('VmRSS') * 1024) / MiB, hwmMiB: (kib('VmHWM') * 1024) / MiB };
}

/** A live process's CPU time (user + system) so far, in ms. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3: utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/**
 * Runs `command` to completion with its output discarded; its wall time, and its CPU time
 * (itself and its children) as the shell's `times` reports it, which a shared machine's
 * load inflates far less than the wall time.
 */
export async function timeCommand(
  command: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ wallMs: number; cpuMs: number; code: number }> {
  const started = performance.now();
  const child = spawn('sh', ['-c', '"$@" >/dev/null 2>&1; code=$?; times; exit $code', 'sh', ...command], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const wallMs = performance.now() - started;
  // `times`: the shell's own user and system time, then its children's: "0m0.107s 0m0.030s".
  const children = out.trim().split('\n').at(-1) ?? '';
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map(([, m, s]) => Number(m) * 60 + Number(s));
  if (seconds.length !== 2) throw new Error(`cannot read the CPU time of ${command.join(' ')} from "${out}"`);
  return { wallMs, cpuMs: (seconds[0]! + seconds[1]!) * 1000, code: code ?? -1 };
}

/**
 * The CPU time the backends of `sql`'s database have used so far, in ms, for a server on
 * this machine (from /proc; undefined when a backend's process is not visible here, e.g.
 * a DATABASE_URL on another host). A backend that exits between two readings takes its
 * time with it, so compare readings around work on long-lived pool connections.
 */
export async function databaseCpuMs(sql: Sql): Promise<Map<number, number> | undefined> {
  const rows = await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`;
  const times = new Map<number, number>();
  try {
    for (const { pid } of rows) {
      // Another host's (or container's) process ids may name some other process here.
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') return undefined;
      times.set(pid, cpuMsOf(pid));
    }
  } catch {
    return undefined;
  }
  return times;
}

/** The backends' CPU time between two readings of databaseCpuMs (a new backend counts from 0). */
export function databaseCpuSpent(before: Map<number, number>, after: Map<number, number>): number {
  let spent = 0;
  for (const [pid, ms] of after) spent += ms - (before.get(pid) ?? 0);
  return spent;
}

/**
 * Runs `work` and measures its wall time and the CPU time `sql`'s database backends spent
 * meanwhile (undefined where databaseCpuMs cannot tell).
 */
export async function timedWithDatabaseCpu(
  sql: Sql,
  work: () => Promise<unknown>,
): Promise<{ ms: number; cpuMs?: number }> {
  const before = await databaseCpuMs(sql);
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  const after = await databaseCpuMs(sql);
  return before && after ? { ms, cpuMs: databaseCpuSpent(before, after) } : { ms };
}
