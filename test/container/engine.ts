/**
 * The container engine the smoke test drives: podman or docker, whichever answers
 * `info` first, so a docker CLI with no daemon behind it does not count. Commands run
 * with arguments, never through a shell.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Engine {
  name: 'podman' | 'docker';
  /** Runs `<engine> ...args`; rejects with the command's stderr on a non-zero exit. */
  exec(args: string[], options?: { timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
  /** Like exec, but resolves with the exit code instead of rejecting. */
  status(args: string[], options?: { timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
}

export function findEngine(): Engine | undefined {
  for (const name of ['podman', 'docker'] as const) {
    const probe = spawnSync(name, ['info'], { stdio: 'ignore', timeout: 30_000 });
    if (probe.status === 0) return engine(name);
  }
  return undefined;
}

function engine(name: Engine['name']): Engine {
  const exec: Engine['exec'] = async (args, options = {}) => {
    try {
      return await run(name, args, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 2 ** 20 });
    } catch (err) {
      const e = err as Error & { stderr?: string; stdout?: string };
      throw new Error(`${name} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, {
        cause: err,
      });
    }
  };
  const status: Engine['status'] = async (args, options = {}) => {
    try {
      const { stdout, stderr } = await run(name, args, {
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 64 * 2 ** 20,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as Error & { code?: number | string; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  return { name, exec, status };
}

/**
 * `run` flags for a read-only root filesystem with nothing writable at all: podman
 * otherwise mounts tmpfs on /tmp, /var/tmp and /run under --read-only; docker does not.
 */
export function readOnlyFlags(engine: Engine): string[] {
  return engine.name === 'podman' ? ['--read-only', '--read-only-tmpfs=false'] : ['--read-only'];
}

/** `build` flags: podman drops HEALTHCHECK from OCI-format images; the docker format keeps it. */
export function buildFlags(engine: Engine): string[] {
  return engine.name === 'podman' ? ['--format', 'docker'] : [];
}
