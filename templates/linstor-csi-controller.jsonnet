// linstor-csi-controller: the CSI controller service (`piraeusctl csi
// --mode=controller`) with the standard kubernetes-csi sidecars, their RBAC
// (as the sidecars' upstream RBAC grants it) and the CSIDriver object.
local k = import 'lib/k8s.libsonnet';
local component = 'linstor-csi-controller';
local name = 'linstor-csi-controller';
local driver = 'linstor.csi.linbit.com';
local socketDir = '/var/lib/csi/sockets/pluginproxy/';
local read = ['get', 'list', 'watch'];

local clusterRules = [
  // external-provisioner
  k.rule([''], ['persistentvolumes'], ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete']),
  k.rule([''], ['persistentvolumeclaims'], ['get', 'list', 'watch', 'update']),
  k.rule([''], ['persistentvolumeclaims/status'], ['patch']),
  k.rule([''], ['events'], ['get', 'list', 'watch', 'create', 'update', 'patch']),
  k.rule([''], ['nodes'], read),
  k.rule([''], ['pods'], read),
  k.rule(['storage.k8s.io'], ['storageclasses', 'csinodes', 'volumeattributesclasses'], read),
  // external-attacher
  k.rule(['storage.k8s.io'], ['volumeattachments'], ['get', 'list', 'watch', 'patch']),
  k.rule(['storage.k8s.io'], ['volumeattachments/status'], ['patch']),
  // external-snapshotter
  k.rule(['snapshot.storage.k8s.io'], ['volumesnapshotclasses'], read),
  k.rule(['snapshot.storage.k8s.io'], ['volumesnapshots'], ['get', 'list', 'watch', 'update', 'patch']),
  k.rule(['snapshot.storage.k8s.io'], ['volumesnapshotcontents'], ['get', 'list', 'watch', 'update', 'patch']),
  k.rule(['snapshot.storage.k8s.io'], ['volumesnapshotcontents/status'], ['update', 'patch']),
];

// Leader election of the sidecars, and storage capacity objects owned by
// the Deployment's ReplicaSet (--capacity-ownerref-level=2).
local namespacedRules = [
  k.leaseRule,
  k.rule(['storage.k8s.io'], ['csistoragecapacities'], ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']),
  k.rule(['apps'], ['replicasets'], ['get']),
  k.rule([''], ['pods'], ['get']),
];

local socketEnv = [k.env('ADDRESS', socketDir + 'csi.sock')];
local socketMount = [k.mount('socket-dir', socketDir)];
local leader = ['--leader-election=true', '--leader-election-namespace=$(POD_NAMESPACE)'];

local sidecar(name, image, args) = k.sidecar(name, image, ['--csi-address=$(ADDRESS)'] + args) + {
  env: socketEnv + k.podEnv,
  volumeMounts: socketMount,
  securityContext: k.restricted,
};

local csiDriver(input) = {
  apiVersion: 'storage.k8s.io/v1',
  kind: 'CSIDriver',
  metadata: k.metadata(input, component, driver, namespaced=false),
  spec: {
    attachRequired: true,
    fsGroupPolicy: 'ReadWriteOnceWithFSType',
    podInfoOnMount: true,
    requiresRepublish: false,
    storageCapacity: true,
    volumeLifecycleModes: ['Persistent'],
  },
};

function(input)
  if !input.components.csiController then [] else
    k.identity(input, component, name, clusterRules, namespacedRules)
    + [
      csiDriver(input),
      k.deployment(input, component, name, {
        serviceAccountName: name,
        priorityClassName: 'system-cluster-critical',
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          k.piraeusctl(input, 'linstor-csi', [
            'csi',
            '--mode=controller',
            '--csi-endpoint=unix://$(ADDRESS)',
            '--node=$(KUBE_NODE_NAME)',
          ]) + {
            env: socketEnv + [
              k.fieldEnv('KUBE_NODE_NAME', 'spec.nodeName'),
              k.env('LS_CONTROLLERS', input.controllerEndpoint),
            ],
            ports: [{ name: 'healthz', containerPort: 9808, protocol: 'TCP' }],
            livenessProbe: k.httpProbe('healthz', '/healthz'),
            securityContext: k.restricted,
            volumeMounts: socketMount,
          },
          sidecar('csi-provisioner', input.images['csi-provisioner'], [
            '--timeout=1m',
            '--default-fstype=ext4',
            '--feature-gates=Topology=true',
            '--enable-capacity',
            '--extra-create-metadata',
            '--capacity-ownerref-level=2',
          ] + leader),
          sidecar('csi-attacher', input.images['csi-attacher'], ['--timeout=1m'] + leader),
          sidecar('csi-snapshotter', input.images['csi-snapshotter'], ['--timeout=1m'] + leader),
          sidecar('csi-resizer', input.images['csi-resizer'], ['--timeout=1m', '--handle-volume-inuse-error=false'] + leader),
          sidecar('csi-livenessprobe', input.images.livenessprobe, []),
        ],
        volumes: [{ name: 'socket-dir', emptyDir: {} }],
      }, replicas=input.csiControllerReplicas),
    ]
