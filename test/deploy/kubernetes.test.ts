/**
 * deploy/kubernetes*.yaml, the example manifests, checked without a cluster: valid against
 * the Kubernetes API schemas (unknown fields included), admissible under every control of
 * the `restricted` Pod Security Standard, migrating before the worker on every release,
 * sized, with a service account for IRSA / Pod Identity, only the webhook port behind a
 * Service, scrape wiring the alert rules find, and only variables the config knows (with
 * values it accepts). `npm run test:container` proves the image itself runs that way
 * (numeric user, read-only root, nothing writable).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadConfig, schemaLeaves } from '../../src/config/config.ts';
import { DEFAULT_MARGIN_MS } from '../../src/shutdown.ts';
import { WEBHOOK_PATH } from '../../src/webhooks/server.ts';
import { parseDockerfile } from './dockerfile.ts';
import { validateKubernetes } from './kubernetes-schema.ts';
import { type PodTemplate, restrictedViolations } from './pod-security.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const MANIFESTS = ['deploy/kubernetes.yaml', 'deploy/kubernetes-webhook.yaml', 'deploy/kubernetes-podmonitor.yaml'];

interface Container {
  name: string;
  image: string;
  args: string[];
  env?: Array<{ name: string; value: string }>;
  envFrom?: Array<{ secretRef?: { name: string } }>;
  ports?: Array<{ containerPort: number; name: string }>;
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  readinessProbe?: { httpGet: { path: string; port: string | number }; timeoutSeconds?: number };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown> & { capabilities?: { drop?: string[] } };
}
interface PodSpec {
  serviceAccountName?: string;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  initContainers?: Container[];
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
}
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, narrowed by the assertions that read it
type Resource = { apiVersion: string; kind: string; metadata: { name: string; annotations?: any }; spec: any } & Record<
  string,
  unknown
>;

const resources = MANIFESTS.flatMap((file) =>
  parseAllDocuments(read(file)).map((doc) => ({ file, ...(doc.toJS() as Resource) })),
);
const find = (kind: string): Resource => {
  const found = resources.filter((r) => r.kind === kind);
  assert.equal(found.length, 1, `the manifests hold one ${kind}`);
  return found[0]!;
};
const deployment = find('Deployment');
const podTemplate = deployment.spec.template as PodTemplate & { metadata: { labels: Record<string, string> } };
const pod = podTemplate.spec as unknown as PodSpec;
const worker = pod.containers[0]!;
const migrate = pod.initContainers?.[0];
const leaf = (env: string) => schemaLeaves().find((l) => l.env === env)?.default;
const imageUser = parseDockerfile(read('Dockerfile'))
  .stages.at(-1)!
  .instructions.filter((i) => i.keyword === 'USER')
  .at(-1)?.args;
/** Kubernetes quantities in bytes (the binary and decimal suffixes the manifests use). */
const bytes = (quantity: string) => {
  const [, n, unit] = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity) ?? [];
  assert.ok(n, `"${quantity}" is a quantity`);
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };
  return Number(n) * (unit ? units[unit]! : 1);
};

describe('deploy/kubernetes*.yaml: valid and admissible', () => {
  it('every object is valid against the Kubernetes API schemas, unknown fields included', () => {
    for (const { file, ...resource } of resources) {
      assert.deepEqual(validateKubernetes(resource), [], `${file}: ${resource.kind} ${resource.metadata.name}`);
    }
  });

  it('that schema check fails a misspelt field and a wrongly typed value', () => {
    const { file: _file, ...object } = deployment;
    const broken = structuredClone(object) as Resource;
    broken.spec.template.spec.containers[0].resourcez = broken.spec.template.spec.containers[0].resources;
    broken.spec.template.spec.securityContext.seccompProfile.typ = 'RuntimeDefault';
    assert.deepEqual(validateKubernetes(broken).sort(), [
      'apps/v1/Deployment: spec.template.spec.containers.0.resourcez is not a field of Deployment',
      'apps/v1/Deployment: spec.template.spec.securityContext.seccompProfile.typ is not a field of Deployment',
    ]);
    const mistyped = structuredClone(object) as Resource;
    mistyped.spec.replicas = 'two';
    assert.match(validateKubernetes(mistyped).join('\n'), /replicas must be integer/);
  });

  it('the worker pod passes every control of the restricted Pod Security Standard', () => {
    assert.deepEqual(restrictedViolations(podTemplate), []);
  });

  // One pod per control, each breaking only that control (and what the restricted profile
  // adds to the same field): the check above could fail.
  const alsoRestricted: Record<string, string> = {
    'Capabilities (baseline)': 'Capabilities',
    'HostPath Volumes': 'Volume Types',
  };
  const breaks: Array<[string, (p: PodTemplate) => void]> = [
    ['HostProcess', (p) => Object.assign(p.spec.securityContext!, { windowsOptions: { hostProcess: true } })],
    ['Host Namespaces', (p) => Object.assign(p.spec, { hostNetwork: true })],
    ['Privileged Containers', (p) => Object.assign(p.spec.containers[0]!.securityContext!, { privileged: true })],
    [
      'Capabilities (baseline)',
      (p) => Object.assign(p.spec.initContainers![0]!.securityContext!.capabilities!, { add: ['SYS_ADMIN'] }),
    ],
    ['HostPath Volumes', (p) => Object.assign(p.spec, { volumes: [{ name: 'h', hostPath: { path: '/' } }] })],
    ['Host Ports', (p) => Object.assign(p.spec.containers[0]!, { ports: [{ containerPort: 8080, hostPort: 8080 }] })],
    [
      'Host Probes / Lifecycle Hooks',
      (p) =>
        Object.assign(p.spec.containers[0]!, { livenessProbe: { httpGet: { path: '/', port: 1, host: '10.0.0.1' } } }),
    ],
    ['AppArmor', (p) => Object.assign(p.spec.securityContext!, { appArmorProfile: { type: 'Unconfined' } })],
    [
      'AppArmor',
      (p) =>
        Object.assign(p.metadata!, {
          annotations: { 'container.apparmor.security.beta.kubernetes.io/x': 'unconfined' },
        }),
    ],
    ['SELinux', (p) => Object.assign(p.spec.containers[0]!.securityContext!, { seLinuxOptions: { type: 'spc_t' } })],
    ['SELinux', (p) => Object.assign(p.spec.securityContext!, { seLinuxOptions: { user: 'system_u' } })],
    ['/proc Mount Type', (p) => Object.assign(p.spec.containers[0]!.securityContext!, { procMount: 'Unmasked' })],
    ['Sysctls', (p) => Object.assign(p.spec.securityContext!, { sysctls: [{ name: 'kernel.msgmax', value: '1' }] })],
    ['Volume Types', (p) => Object.assign(p.spec, { volumes: [{ name: 'n', nfs: { server: 'x', path: '/' } }] })],
    ['Privilege Escalation', (p) => delete p.spec.initContainers![0]!.securityContext!.allowPrivilegeEscalation],
    [
      'Running as Non-root',
      (p) => {
        delete p.spec.securityContext!.runAsNonRoot;
        delete p.spec.initContainers![0]!.securityContext!.runAsNonRoot;
      },
    ],
    ['Running as Non-root user', (p) => Object.assign(p.spec.containers[0]!.securityContext!, { runAsUser: 0 })],
    [
      'Seccomp',
      (p) => {
        delete p.spec.securityContext!.seccompProfile;
        delete p.spec.containers[0]!.securityContext!.seccompProfile;
      },
    ],
    [
      'Seccomp',
      (p) => Object.assign(p.spec.containers[0]!.securityContext!, { seccompProfile: { type: 'Unconfined' } }),
    ],
    [
      'Capabilities',
      (p) => Object.assign(p.spec.containers[0]!.securityContext!, { capabilities: { drop: ['NET_RAW'] } }),
    ],
    ['Capabilities', (p) => Object.assign(p.spec.containers[0]!.securityContext!.capabilities!, { add: ['CHOWN'] })],
  ];
  for (const [control, breakIt] of breaks) {
    it(`the restricted check refuses a pod that breaks "${control}"`, () => {
      const broken = structuredClone(podTemplate);
      breakIt(broken);
      const problems = restrictedViolations(broken);
      assert.ok(problems.length > 0, `${control}: no violation found`);
      const expected = [control, alsoRestricted[control]].filter(Boolean);
      for (const problem of problems) assert.ok(expected.includes(problem.split(':')[0]!), problem);
    });
  }

  it('sets only variables the config or the AWS SDK reads, with values the config accepts', () => {
    const known = new Set([...schemaLeaves().map((l) => l.env), 'AWS_PROFILE', 'AWS_DEFAULT_REGION']);
    const env: Record<string, string> = {};
    for (const container of [worker, migrate!]) {
      for (const { name, value } of container.env ?? []) {
        assert.ok(known.has(name), `${name} is read by nothing`);
        if (container === worker) env[name] = value;
      }
    }
    // The Secret's two variables, as the header's `kubectl create secret` makes it.
    const config = loadConfig({ ...env, DATABASE_URL: 'postgres://lgs:pw@db:5432/directory', LUMA_API_KEY: 'key' });
    assert.equal(config.enabled, true);
    assert.equal(config.consumer.enabled, true);
    assert.equal(config.webhook.enabled, false, 'webhooks stay off until the Secret has their signing secret');
  });
});

describe('deploy/kubernetes.yaml: the worker', () => {
  it('is the container spec docs/deploying.md shows', () => {
    const docs = read('docs/deploying.md');
    const block = /A minimal Kubernetes container spec[\s\S]*?```yaml\n([\s\S]*?)```/.exec(docs)?.[1];
    assert.ok(block, 'docs/deploying.md shows a Kubernetes container spec');
    const spec = parseYaml(block) as PodSpec;
    assert.deepEqual(spec.containers, pod.containers);
    assert.equal(spec.terminationGracePeriodSeconds, pod.terminationGracePeriodSeconds);
  });

  it("runs every container as the image's numeric non-root user, on a read-only root filesystem", () => {
    const [uid, gid] = (imageUser ?? '').split(':').map(Number);
    assert.ok(Number.isInteger(uid) && uid! > 0, `the image's USER "${imageUser}" is a numeric non-root uid`);
    assert.equal(pod.securityContext?.runAsUser, uid);
    assert.equal(pod.securityContext?.runAsGroup, gid);
    for (const container of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const context = container.securityContext;
      assert.equal(context.runAsNonRoot, true, container.name);
      assert.equal(context.runAsUser, uid, `${container.name} runs as the image's uid`);
      assert.equal(context.runAsGroup, gid, `${container.name} runs as the image's gid`);
      assert.equal(context.readOnlyRootFilesystem, true, container.name);
    }
  });

  it('migrates in an init container of the same image, so each release applies and the worker starts migrated', () => {
    assert.ok(migrate, 'an init container');
    assert.deepEqual(migrate.args, ['db:migrate']);
    assert.equal(migrate.image, worker.image);
    assert.deepEqual(migrate.envFrom, worker.envFrom, 'the same DATABASE_URL');
    // A Job's pod template is immutable: a fixed-name Job makes the next release's apply fail.
    assert.ok(!resources.some((r) => r.kind === 'Job'), 'no Job');
  });

  it('requests and limits memory for every container, the limit above the request', () => {
    for (const container of [worker, migrate!]) {
      const { requests = {}, limits = {} } = container.resources ?? {};
      assert.ok(requests.cpu && requests.memory && limits.memory, `${container.name} has requests and a memory limit`);
      assert.ok(bytes(limits.memory) >= bytes(requests.memory), container.name);
    }
    assert.deepEqual(migrate!.resources, worker.resources, 'the init container costs nothing beyond the worker');
  });

  it('runs as a service account of its own, annotated for IRSA, that mounts no API token', () => {
    const account = find('ServiceAccount');
    assert.equal(pod.serviceAccountName, account.metadata.name);
    assert.match(account.metadata.annotations?.['eks.amazonaws.com/role-arn'] ?? '', /^arn:aws:iam::\d{12}:role\//);
    assert.equal(account.automountServiceAccountToken, false);
  });

  it("probes the worker's port and gives its shutdown time to finish", () => {
    assert.deepEqual(worker.args, ['daemon']);
    assert.equal(
      worker.ports?.find((p) => p.name === 'http')?.containerPort,
      leaf('HTTP_PORT'),
      'the default HTTP_PORT',
    );
    assert.deepEqual(worker.livenessProbe?.httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual(worker.readinessProbe?.httpGet, { path: '/readyz', port: 'http' });
    const graceMs = leaf('SHUTDOWN_GRACE_MS') as number;
    assert.ok((pod.terminationGracePeriodSeconds ?? 30) * 1000 >= graceMs + DEFAULT_MARGIN_MS);
  });
});

describe('deploy/kubernetes-webhook.yaml and the scrape wiring', () => {
  const selects = (selector: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => podTemplate.metadata.labels[k] === v);

  it("exposes the webhook port, and only it, on the worker's pods", () => {
    const service = find('Service');
    assert.ok(selects(service.spec.selector), 'the Service selects the worker pods');
    assert.equal(worker.ports?.find((p) => p.name === 'webhook')?.containerPort, leaf('LUMA_WEBHOOK_PORT'));
    const targets = (service.spec.ports as Array<{ targetPort: string | number }>).map((p) => p.targetPort);
    assert.deepEqual(targets, ['webhook']);
    for (const r of resources.filter((x) => x.kind === 'Service')) {
      for (const port of r.spec.ports as Array<{ targetPort: string | number }>) {
        assert.ok(![8080, 'http'].includes(port.targetPort), `${r.metadata.name} exposes the probes' port`);
      }
    }
  });

  it("routes the receiver's one path to that Service", () => {
    const route = find('HTTPRoute');
    const service = find('Service');
    const [rule] = route.spec.rules;
    assert.deepEqual(rule.matches, [{ path: { type: 'Exact', value: WEBHOOK_PATH }, method: 'POST' }]);
    assert.deepEqual(rule.backendRefs, [{ name: service.metadata.name, port: service.spec.ports[0].port }]);
  });

  it('scrapes /metrics on the http port, by PodMonitor or by annotations, under a job the alert rules find', () => {
    const monitor = find('PodMonitor');
    assert.ok(selects(monitor.spec.selector.matchLabels), 'the PodMonitor selects the worker pods');
    assert.deepEqual(
      monitor.spec.podMetricsEndpoints.map((e: { port: string; path: string }) => [e.port, e.path]),
      [['http', '/metrics']],
    );
    const annotations = podTemplate.metadata!.annotations!;
    assert.equal(annotations['prometheus.io/scrape'], 'true');
    assert.equal(Number(annotations['prometheus.io/port']), leaf('HTTP_PORT'));
    assert.equal(annotations['prometheus.io/path'], '/metrics');

    // The lgs:up rule's selection, read from the rules file and applied as Prometheus
    // would (anchored regular expressions) to the jobs and labels of each setup.
    const rules = parseYaml(read('deploy/prometheus/luma-guest-sync.rules.yaml')) as {
      groups: Array<{ rules: Array<{ record?: string; expr: string }> }>;
    };
    const upRule = rules.groups.flatMap((g) => g.rules).find((r) => r.record === 'lgs:up');
    assert.ok(upRule);
    const jobPattern = new RegExp(`^(?:${/job=~"([^"]+)"/.exec(upRule.expr)![1]})$`);
    const appLabel = /app_kubernetes_io_name="([^"]+)"/.exec(upRule.expr)![1];
    assert.match(`prod/${monitor.metadata.name}`, jobPattern, "a PodMonitor's job is <namespace>/<name>");
    assert.match('luma-guest-sync', jobPattern, 'a static or ECS job of that name');
    assert.equal(
      appLabel,
      podTemplate.metadata.labels['app.kubernetes.io/name'],
      'an annotation scrape copying pod labels',
    );
    assert.doesNotMatch('kubernetes-pods', jobPattern);
  });
});
