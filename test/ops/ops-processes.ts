/**
 * Debian's Prometheus and Alertmanager as child processes on loopback, for the test:ops
 * files: each in a temp folder of its own, started with the configuration given, ready
 * when its /-/ready answers, stopped and removed by `after` at the end of the file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { freePort } from '../../src/local/free-port.ts';

export interface OpsProcess {
  url: string;
  port: number;
  dir: string;
  child: ChildProcess;
}

/** Polls `check` every 250 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function start(
  label: string,
  binary: string,
  config: string,
  args: (dir: string, port: number) => string[],
): Promise<OpsProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `lgs-${label}-`));
  const port = await freePort();
  const configFile = path.join(dir, `${label}.yml`);
  await writeFile(configFile, config);
  const child = spawn(binary, [`--config.file=${configFile}`, ...args(dir, port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  await until(
    async () =>
      child.exitCode === null &&
      (await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      )),
    30_000,
    () => `${binary} ready (stderr: ${stderr})`,
  );
  return { url, port, dir, child };
}

/** Prometheus with `config` as its prometheus.yml (rule files by absolute path). */
export function startPrometheus(config: string): Promise<OpsProcess> {
  return start('prometheus', 'prometheus', config, (dir, port) => [
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
}

/** Alertmanager (Debian's binary name) with `config` as its alertmanager.yml, clustering off. */
export function startAlertmanager(config: string): Promise<OpsProcess> {
  return start('alertmanager', 'prometheus-alertmanager', config, (dir, port) => [
    `--storage.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
  ]);
}
