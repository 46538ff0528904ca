// ha-controller: watches DRBD on every node (`drbdsetup events2`); when a
// node loses quorum it taints it, evicts the Pods using the affected volumes
// and deletes their VolumeAttachments so they restart elsewhere.
local k = import 'lib/k8s.libsonnet';
local component = 'ha-controller';
local name = 'ha-controller';

// piraeusctl ha-controller watches these through informers, evicts and
// deletes Pods, deletes VolumeAttachments and updates Node taints.
local clusterRules = [
  k.rule([''], ['pods'], ['get', 'list', 'watch', 'delete']),
  k.rule([''], ['pods/eviction'], ['create']),
  k.rule(['storage.k8s.io'], ['volumeattachments'], ['get', 'list', 'watch', 'delete']),
  k.rule([''], ['nodes'], ['get', 'list', 'watch', 'update']),
  k.rule([''], ['persistentvolumes', 'persistentvolumeclaims'], ['get', 'list', 'watch']),
  k.rule([''], ['events'], ['create']),
  k.rule(['events.k8s.io'], ['events'], ['create']),
];

function(input)
  if !input.components.haController then [] else
    k.identity(input, component, name, clusterRules)
    + [
      k.daemonSet(input, component, name, {
        serviceAccountName: name,
        priorityClassName: 'system-node-critical',
        // DRBD's netlink family lives in the host network namespace.
        hostNetwork: true,
        dnsPolicy: 'ClusterFirstWithHostNet',
        tolerations: k.tolerations(input) + [
          { key: 'drbd.linbit.com/lost-quorum', operator: 'Exists', effect: 'NoSchedule' },
          { key: 'drbd.linbit.com/force-io-error', operator: 'Exists', effect: 'NoSchedule' },
        ],
        containers: [
          k.piraeusctl(input, name, ['ha-controller', '--node-name=$(NODE_NAME)', '--health-bind-address=:8082']) + {
            env: [k.fieldEnv('NODE_NAME', 'spec.nodeName')],
            ports: [{ name: 'health', containerPort: 8082, protocol: 'TCP' }],
            livenessProbe: k.httpProbe('health', '/healthz'),
            securityContext: k.privileged,
            resources: { requests: { cpu: '10m', memory: '32Mi' } },
          },
        ],
      } + k.clusterNodeSelection(input)),
    ]
