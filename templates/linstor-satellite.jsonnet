// linstor-satellite: one DaemonSet per node, pinned to that node, running the
// node agent (`piraeusctl agent`) privileged on the host network, and the
// node's LinstorSatellite. Per-node
// settings (pool directories, TLS, the hash of the node's topology entry)
// are in each DaemonSet, so a change on one node rolls only that node.
local k = import 'lib/k8s.libsonnet';
local component = 'linstor-satellite';
local name = 'linstor-satellite';

// Host paths every satellite needs.
local hostVolumes = [
  k.hostPath('dev', '/dev', 'Directory'),
  k.hostPath('lib-modules', '/lib/modules', 'DirectoryOrCreate'),
  k.hostPath('usr-src', '/usr/src', 'DirectoryOrCreate'),
  k.hostPath('etc-lvm-backup', '/etc/lvm/backup', 'DirectoryOrCreate'),
  k.hostPath('etc-lvm-archive', '/etc/lvm/archive', 'DirectoryOrCreate'),
  k.hostPath('run-lock-lvm', '/run/lock/lvm', 'DirectoryOrCreate'),
  k.hostPath('run-udev', '/run/udev', 'DirectoryOrCreate'),
  k.hostPath('var-lib-linstor-pools', '/var/lib/linstor-pools', 'DirectoryOrCreate'),
];
local hostMounts = [
  k.mount('dev', '/dev'),
  k.mount('lib-modules', '/lib/modules', readOnly=true),
  k.mount('usr-src', '/usr/src', readOnly=true),
  k.mount('etc-lvm-backup', '/etc/lvm/backup'),
  k.mount('etc-lvm-archive', '/etc/lvm/archive'),
  k.mount('run-lock-lvm', '/run/lock/lvm'),
  k.mount('run-udev', '/run/udev', readOnly=true),
  k.mount('var-lib-linstor-pools', '/var/lib/linstor-pools', propagation='Bidirectional'),
];

// Beside LinstorCluster.spec.tolerations: the taints the ha-controller sets
// and the ones a DaemonSet Pod tolerates anyway.
local defaultTolerations = [
  { key: 'drbd.linbit.com/lost-quorum', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'drbd.linbit.com/force-io-error', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' },
];

local moduleLoader(image) = {
  name: 'drbd-module-loader',
  image: image,
  imagePullPolicy: 'IfNotPresent',
  securityContext: { privileged: true, capabilities: { add: ['SYS_MODULE'] } },
  volumeMounts: [
    k.mount('lib-modules', '/lib/modules'),
    k.mount('usr-src', '/usr/src', readOnly=true),
  ],
};

local tlshd(image) = {
  name: 'ktls-utils',
  image: image,
  imagePullPolicy: 'IfNotPresent',
  args: ['tlshd', '--stderr'],
  securityContext: { privileged: true },
  volumeMounts: [k.mount('internal-tls', '/etc/linstor/ssl', readOnly=true)],
};

// The parts every node shares are computed once; the per-node DaemonSet is
// one object literal (object merges per node are what makes Jsonnet slow on
// big clusters).
local daemonSet(input, shared, sat) =
  local tls = sat.tls != null;
  local selector = shared.selector { 'piraeus.io/satellite': sat.name };
  {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: {
      name: sat.name,
      namespace: input.namespace,
      labels: shared.labels,
      annotations: {
        'storage.piraeus.io/node': sat.node,
        // gencert keeps this node's Secret (none named by the user, no cert-manager).
        [if sat.tls.gencert then 'storage.piraeus.io/internal-tls-issuer']: 'piraeus-operator-gencert',
      },
    },
    spec: {
      revisionHistoryLimit: 5,
      selector: { matchLabels: selector },
      updateStrategy: shared.updateStrategy,
      template: {
        metadata: {
          labels: shared.labels { 'piraeus.io/satellite': sat.name },
          annotations: { 'storage.piraeus.io/topology-hash': sat.topologyHash },
        },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: false,
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          priorityClassName: 'system-node-critical',
          affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [
            { matchFields: [{ key: 'metadata.name', operator: 'In', values: [sat.node] }] },
          ] } } },
          tolerations: shared.tolerations,
          initContainers: [moduleLoader(sat.moduleLoaderImage)],
          containers: [
            {
              name: name,
              image: input.images.piraeusctl,
              imagePullPolicy: 'IfNotPresent',
              command: ['piraeusctl'],
              args: ['agent', '--node-name=$(NODE_NAME)', '--listen=:%d' % sat.port]
                    + (if tls then ['--tls-dir=/etc/linstor/ssl'] else []),
              env: shared.env,
              ports: [{ name: if tls then 'linstor-tls' else 'linstor', containerPort: sat.port, protocol: 'TCP' }],
              securityContext: k.privileged,
              readinessProbe: { tcpSocket: { port: sat.port }, periodSeconds: 10 },
              volumeMounts: hostMounts
                            + [k.mount(d.volume, d.path, propagation='Bidirectional') for d in sat.poolDirs]
                            + (if tls then [k.mount('internal-tls', '/etc/linstor/ssl', readOnly=true)] else []),
            },
          ] + (if tls && sat.tls.handshakeDaemon then [tlshd(input.images['ktls-utils'])] else []),
          volumes: hostVolumes
                   + [k.hostPath(d.volume, d.path, 'DirectoryOrCreate') for d in sat.poolDirs]
                   + (if tls then [k.secretVolume('internal-tls', sat.tls.secretName)] else []),
        },
      },
    },
  };

// The node's LinstorSatellite, as upstream keeps one per node: the merged
// configuration in its spec; the operator fills its status conditions.
local linstorSatellite(shared, sat) = {
  apiVersion: 'piraeus.io/v1',
  kind: 'LinstorSatellite',
  metadata: {
    name: sat.node,
    labels: shared.labels,
    annotations: { 'storage.piraeus.io/node': sat.node },
  },
  spec: sat.spec,
};

function(input)
  if std.length(input.satellites) + std.length(input.evacuating) == 0 then [] else
    local shared = {
      labels: k.labels(input, component),
      selector: k.selectorLabels(input, component),
      tolerations: k.tolerations(input) + defaultTolerations,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      env: [k.fieldEnv('NODE_NAME', 'spec.nodeName')],
    };
    [k.serviceAccount(input, component, name)]
    + [daemonSet(input, shared, sat) for sat in input.satellites]
    + [linstorSatellite(shared, sat) for sat in input.satellites]
    // Nodes evacuated after their Node was deleted keep their
    // LinstorSatellite (no DaemonSet) until the evacuation is complete.
    + [linstorSatellite(shared, sat) for sat in input.evacuating]
