/**
 * What an operator would look at after the run: the dead-letter queue, `status` and the
 * attempt history, the replicas' exits and memory, and Luma's 429s.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Sql } from '../../src/db/client.ts';
import type { SoakPlan } from './plan.ts';
import type { Replica } from './replicas.ts';
import { examples, type Invariant, invariant } from './report.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

export async function checkDlq(sqs: SQSClient, dlqUrl: string): Promise<Invariant> {
  const depth = await queueDepth(sqs, dlqUrl);
  return invariant('queue: no message in the DLQ', depth === 0, `${depth} messages in the DLQ`);
}

/** `luma-guest-sync status` as an operator runs it. */
export function checkStatus(env: Record<string, string>): Invariant {
  const run = spawnSync(process.execPath, [path.join(ROOT, 'src/main.ts'), 'status'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  // Its last line is the summary ("N syncable event(s): … failed, … overdue").
  const lines = `${run.stdout}${run.stderr}`.split('\n').filter((l) => l.trim() !== '');
  return invariant(
    '`luma-guest-sync status` exits 0',
    run.status === 0,
    `exit ${run.status ?? run.signal}: ${lines.at(-1)?.trim() ?? '(no output)'}`,
  );
}

export async function checkHistory(sql: Sql, replicas: Replica[], killed: number, concurrency: number) {
  const [row] = await sql<{ attempts: number }[]>`SELECT count(*)::int AS attempts FROM luma_guest_sync.sync_history`;
  const incarnations = replicas.flatMap((r) => r.incarnations);
  const ended = incarnations.reduce((n, i) => n + i.counts.ended, 0);
  const recordFailed = incarnations.reduce((n, i) => n + i.counts.recordFailed, 0);
  // A replica killed with SIGKILL may have logged an attempt's end and not yet written it.
  const slack = killed * concurrency;
  const attempts = row?.attempts ?? 0;
  // An attempt that ended while PostgreSQL was restarting is kept in the worker and written
  // once the database is back (src/history/backlog.ts). Only one still kept when its
  // replica exits is lost, and the worker says so ("could not record the sync attempt"):
  // accounted for, not silently lost, it counts here and the figure stays in the detail.
  return invariant(
    'history: holds every attempt (or its loss is logged)',
    attempts + recordFailed >= ended - slack,
    `${attempts} attempts recorded, ${ended} ended in the replicas' logs (slack ${slack} for SIGKILL), ${recordFailed} logged as not recorded (the database was away)`,
  );
}

/**
 * Every failed attempt is named by what failed. Each of the soak's faults (a PostgreSQL
 * or SQS restart, a SIGKILL, Luma's 5xx and outages) has a kind of its own, so an
 * `unexpected` one is a fault the worker did not recognise or one it misnamed: a page
 * statement's socket reset at the PostgreSQL restart was, until 2026-12-06.
 */
export async function checkFailureKinds(sql: Sql): Promise<Invariant> {
  const kinds = await sql<{ kind: string | null; n: number }[]>`
    SELECT error_kind AS kind, count(*)::int AS n FROM luma_guest_sync.sync_history
    WHERE outcome = 'failure' GROUP BY 1 ORDER BY 2 DESC, 1`;
  const unnamed = kinds.filter((k) => k.kind === null || k.kind === 'unexpected');
  return invariant(
    'history: every failure named (none `unexpected`)',
    unnamed.length === 0,
    kinds.length ? kinds.map((k) => `${k.kind ?? 'no kind'} ${k.n}`).join(', ') : 'no failed attempt',
  );
}

export function checkReplicas(replicas: Replica[]): Invariant {
  const unexpected: string[] = [];
  let count = 0;
  for (const replica of replicas) {
    for (const incarnation of replica.incarnations) {
      count++;
      const exit = incarnation.exit;
      if (!exit) continue;
      const asked = incarnation.signalled;
      // SIGTERM must end in a clean exit within the grace period; SIGKILL is what it is.
      const clean = asked === 'SIGKILL' || (asked === 'SIGTERM' && exit.code === 0);
      if (!clean)
        unexpected.push(
          `${replica.name} pid ${incarnation.pid}: ${exit.code ?? exit.signal} (asked: ${asked ?? 'no'})`,
        );
    }
  }
  return invariant(
    'replicas: none died unasked',
    unexpected.length === 0,
    `${count} processes, ${unexpected.length} unexpected exits${examples(unexpected)}`,
  );
}

export function checkMemory(replicas: Replica[], bound: SoakPlan['rssBound']): Invariant {
  const measured: string[] = [];
  const over: string[] = [];
  for (const replica of replicas) {
    for (const i of replica.incarnations) {
      if (i.warmRssMb === undefined || i.endRssMb === undefined) continue;
      const text = `${replica.name} pid ${i.pid}: ${i.warmRssMb} -> ${i.endRssMb} MB`;
      measured.push(text);
      if (i.endRssMb > i.warmRssMb * bound.factor + bound.plusMb) over.push(text);
    }
  }
  return invariant(
    `memory: RSS at the end <= ${bound.factor} x warm-up + ${bound.plusMb} MB`,
    over.length === 0 && measured.length > 0,
    measured.length ? measured.join('; ') : 'no replica lived from warm-up to the end',
  );
}
