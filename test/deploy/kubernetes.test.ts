/**
 * deploy/kubernetes.yaml, the example manifest: docs/deploying.md's container spec as written, a
 * numeric non-root user that is the image's own (so runAsNonRoot can verify it), a
 * read-only root filesystem, probes on the worker's port, a grace period that covers the
 * worker's shutdown, and variables the config knows. `npm run test:container` proves the
 * image itself runs that way (numeric user, read-only root, nothing writable).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { schemaLeaves } from '../../src/config/config.ts';
import { DEFAULT_MARGIN_MS } from '../../src/shutdown.ts';
import { parseDockerfile } from './dockerfile.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

interface Container {
  name: string;
  image: string;
  args: string[];
  env?: Array<{ name: string; value: string }>;
  ports?: Array<{ containerPort: number; name: string }>;
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  readinessProbe?: { httpGet: { path: string; port: string | number }; timeoutSeconds?: number };
  securityContext: Record<string, unknown> & { capabilities?: { drop?: string[] } };
}
interface PodSpec {
  containers: Container[];
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
}
interface Resource {
  kind: string;
  spec: { template: { spec: PodSpec } };
}

const resources = parseAllDocuments(read('deploy/kubernetes.yaml')).map((doc) => doc.toJS() as Resource);
const podSpec = (kind: string): PodSpec => {
  const found = resources.find((r) => r.kind === kind);
  assert.ok(found, `deploy/kubernetes.yaml has a ${kind}`);
  return found.spec.template.spec;
};
const worker = podSpec('Deployment');
const migrate = podSpec('Job');
const imageUser = parseDockerfile(read('Dockerfile'))
  .stages.at(-1)!
  .instructions.filter((i) => i.keyword === 'USER')
  .at(-1)?.args;

describe('deploy/kubernetes.yaml', () => {
  it("holds docs/deploying.md's container spec as written", () => {
    const readme = read('docs/deploying.md');
    const block = /A minimal Kubernetes container spec[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'docs/deploying.md shows a Kubernetes container spec');
    const spec = parseYaml(block) as PodSpec;
    assert.deepEqual(spec.containers, worker.containers);
    assert.equal(spec.terminationGracePeriodSeconds, worker.terminationGracePeriodSeconds);
  });

  it("runs both containers as the image's numeric non-root user, on a read-only root filesystem", () => {
    const [uid, gid] = (imageUser ?? '').split(':').map(Number);
    assert.ok(Number.isInteger(uid) && uid! > 0, `the image's USER "${imageUser}" is a numeric non-root uid`);
    for (const container of [...worker.containers, ...migrate.containers]) {
      const context = container.securityContext;
      assert.equal(context.runAsNonRoot, true, container.name);
      assert.equal(context.runAsUser, uid, `${container.name} runs as the image's uid`);
      assert.equal(context.runAsGroup, gid, `${container.name} runs as the image's gid`);
      assert.equal(context.readOnlyRootFilesystem, true, container.name);
      assert.equal(context.allowPrivilegeEscalation, false, container.name);
      assert.deepEqual(context.capabilities?.drop, ['ALL'], container.name);
    }
  });

  it('migrates with the same image in a Job, once', () => {
    const [job] = migrate.containers;
    assert.deepEqual(job!.args, ['db:migrate']);
    assert.equal(job!.image, worker.containers[0]!.image);
    assert.equal(migrate.restartPolicy, 'Never');
  });

  it("probes the worker's port and gives its shutdown time to finish", () => {
    const [container] = worker.containers;
    assert.deepEqual(container!.args, ['daemon']);
    const http = container!.ports?.find((p) => p.name === 'http');
    const configuredPort = schemaLeaves().find((leaf) => leaf.env === 'HTTP_PORT')?.default;
    assert.equal(http?.containerPort, configuredPort, 'the default HTTP_PORT');
    assert.deepEqual(container!.livenessProbe?.httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual(container!.readinessProbe?.httpGet, { path: '/readyz', port: 'http' });
    const graceMs = schemaLeaves().find((leaf) => leaf.env === 'SHUTDOWN_GRACE_MS')?.default as number;
    assert.ok((worker.terminationGracePeriodSeconds ?? 30) * 1000 >= graceMs + DEFAULT_MARGIN_MS);
  });

  it('sets only variables the config or the AWS SDK reads', () => {
    const known = new Set([...schemaLeaves().map((leaf) => leaf.env), 'AWS_PROFILE', 'AWS_DEFAULT_REGION']);
    for (const { name } of worker.containers[0]!.env ?? []) assert.ok(known.has(name), `${name} is read by nothing`);
  });
});
