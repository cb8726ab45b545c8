/**
 * The `restricted` Pod Security Standard (which includes every `baseline` control), as
 * kubernetes.io/docs/concepts/security/pod-security-standards states it for Kubernetes
 * v1.34: one check per control, over the pod and each of its containers, init containers
 * and ephemeral containers, on exactly the fields the standard names. Returns one line per
 * violation, naming the control and the field; [] when the pod is admissible.
 */

interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  procMount?: string;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type?: string };
  appArmorProfile?: { type?: string };
  seLinuxOptions?: { type?: string; user?: string; role?: string; level?: string };
  windowsOptions?: { hostProcess?: boolean };
}
interface Handler {
  httpGet?: { host?: string };
  tcpSocket?: { host?: string };
}
interface Container {
  name: string;
  securityContext?: SecurityContext;
  ports?: Array<{ hostPort?: number }>;
  livenessProbe?: Handler;
  readinessProbe?: Handler;
  startupProbe?: Handler;
  lifecycle?: { postStart?: Handler; preStop?: Handler };
}
export interface PodTemplate {
  metadata?: { annotations?: Record<string, string> };
  spec: {
    os?: { name?: string };
    hostNetwork?: boolean;
    hostPID?: boolean;
    hostIPC?: boolean;
    securityContext?: SecurityContext & { sysctls?: Array<{ name: string }> };
    volumes?: Array<Record<string, unknown> & { name: string }>;
    containers: Container[];
    initContainers?: Container[];
    ephemeralContainers?: Container[];
  };
}

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const RESTRICTED_VOLUME_SOURCES = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
];
const ALLOWED_SECCOMP = new Set(['RuntimeDefault', 'Localhost']);
const ALLOWED_APPARMOR = new Set(['RuntimeDefault', 'Localhost']);

/** Every container of the pod with the path the standard uses for it. */
function allContainers(spec: PodTemplate['spec']): Array<{ at: string; container: Container }> {
  const list = (field: 'containers' | 'initContainers' | 'ephemeralContainers') =>
    (spec[field] ?? []).map((container) => ({ at: `spec.${field}[${container.name}]`, container }));
  return [...list('containers'), ...list('initContainers'), ...list('ephemeralContainers')];
}

export function restrictedViolations(pod: PodTemplate): string[] {
  const problems: string[] = [];
  const fail = (control: string, field: string, value: unknown) =>
    problems.push(`${control}: ${field} is ${JSON.stringify(value)}`);
  const { spec } = pod;
  const podContext = spec.securityContext ?? {};
  const containers = allContainers(spec);
  const contexts = [
    { at: 'spec.securityContext', context: podContext as SecurityContext },
    ...containers.map(({ at, container }) => ({
      at: `${at}.securityContext`,
      context: container.securityContext ?? {},
    })),
  ];
  const linux = spec.os?.name !== 'windows';

  // ---- Baseline ----
  for (const { at, context } of contexts) {
    if (context.windowsOptions?.hostProcess === true)
      fail('HostProcess', `${at}.windowsOptions.hostProcess`, context.windowsOptions.hostProcess);
    const appArmor = context.appArmorProfile?.type;
    if (appArmor !== undefined && !ALLOWED_APPARMOR.has(appArmor))
      fail('AppArmor', `${at}.appArmorProfile.type`, appArmor);
    const seLinux = context.seLinuxOptions;
    if (seLinux?.type !== undefined && !SELINUX_TYPES.has(seLinux.type))
      fail('SELinux', `${at}.seLinuxOptions.type`, seLinux.type);
    if (seLinux?.user) fail('SELinux', `${at}.seLinuxOptions.user`, seLinux.user);
    if (seLinux?.role) fail('SELinux', `${at}.seLinuxOptions.role`, seLinux.role);
    if (context.seccompProfile?.type === 'Unconfined') fail('Seccomp', `${at}.seccompProfile.type`, 'Unconfined');
  }
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (spec[field] === true) fail('Host Namespaces', `spec.${field}`, true);
  }
  for (const [name, value] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (
      name.startsWith('container.apparmor.security.beta.kubernetes.io/') &&
      value !== 'runtime/default' &&
      !value.startsWith('localhost/')
    )
      fail('AppArmor', `metadata.annotations["${name}"]`, value);
  }
  for (const { name } of podContext.sysctls ?? []) {
    if (!SAFE_SYSCTLS.has(name)) fail('Sysctls', 'spec.securityContext.sysctls[*].name', name);
  }
  for (const volume of spec.volumes ?? []) {
    if (volume.hostPath !== undefined)
      fail('HostPath Volumes', `spec.volumes[${volume.name}].hostPath`, volume.hostPath);
  }
  for (const { at, container } of containers) {
    const context = container.securityContext ?? {};
    if (context.privileged === true) fail('Privileged Containers', `${at}.securityContext.privileged`, true);
    for (const capability of context.capabilities?.add ?? []) {
      if (!BASELINE_CAPABILITIES.has(capability))
        fail('Capabilities (baseline)', `${at}.securityContext.capabilities.add`, capability);
    }
    for (const port of container.ports ?? []) {
      if (port.hostPort !== undefined && port.hostPort !== 0)
        fail('Host Ports', `${at}.ports[*].hostPort`, port.hostPort);
    }
    const handlers = {
      livenessProbe: container.livenessProbe,
      readinessProbe: container.readinessProbe,
      startupProbe: container.startupProbe,
      'lifecycle.postStart': container.lifecycle?.postStart,
      'lifecycle.preStop': container.lifecycle?.preStop,
    };
    for (const [where, handler] of Object.entries(handlers)) {
      for (const kind of ['httpGet', 'tcpSocket'] as const) {
        const host = handler?.[kind]?.host;
        if (host !== undefined && host !== '')
          fail('Host Probes / Lifecycle Hooks', `${at}.${where}.${kind}.host`, host);
      }
    }
    if (context.procMount !== undefined && context.procMount !== 'Default')
      fail('/proc Mount Type', `${at}.securityContext.procMount`, context.procMount);
  }

  // ---- Restricted ----
  for (const volume of spec.volumes ?? []) {
    if (!RESTRICTED_VOLUME_SOURCES.some((source) => volume[source] != null))
      fail(
        'Volume Types',
        `spec.volumes[${volume.name}]`,
        Object.keys(volume).filter((k) => k !== 'name'),
      );
  }
  for (const { at, context } of contexts) {
    if (context.runAsUser === 0) fail('Running as Non-root user', `${at}.runAsUser`, 0);
  }
  for (const { at, container } of containers) {
    const context = container.securityContext ?? {};
    // Non-root: each container true, or unset under a pod-level true.
    const nonRoot = context.runAsNonRoot ?? podContext.runAsNonRoot;
    if (nonRoot !== true) fail('Running as Non-root', `${at}.securityContext.runAsNonRoot`, context.runAsNonRoot);
    if (!linux) continue;
    if (context.allowPrivilegeEscalation !== false)
      fail('Privilege Escalation', `${at}.securityContext.allowPrivilegeEscalation`, context.allowPrivilegeEscalation);
    // Seccomp: each container's allowed, or unset under an allowed pod-level profile.
    const seccomp = context.seccompProfile?.type ?? podContext.seccompProfile?.type;
    if (seccomp === undefined || !ALLOWED_SECCOMP.has(seccomp))
      fail('Seccomp', `${at}.securityContext.seccompProfile.type`, context.seccompProfile?.type);
    if (!(context.capabilities?.drop ?? []).includes('ALL'))
      fail('Capabilities', `${at}.securityContext.capabilities.drop`, context.capabilities?.drop);
    for (const capability of context.capabilities?.add ?? []) {
      if (capability !== 'NET_BIND_SERVICE') fail('Capabilities', `${at}.securityContext.capabilities.add`, capability);
    }
  }
  if (podContext.runAsNonRoot === false) fail('Running as Non-root', 'spec.securityContext.runAsNonRoot', false);
  if (linux && podContext.seccompProfile?.type !== undefined && !ALLOWED_SECCOMP.has(podContext.seccompProfile.type))
    fail('Seccomp', 'spec.securityContext.seccompProfile.type', podContext.seccompProfile.type);
  return problems;
}
