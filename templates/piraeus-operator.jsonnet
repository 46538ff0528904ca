// piraeus-operator: keeps every rendered object converged to the plan (the
// converge loop, under leader election) and serves the validating webhook
// (port 9443) for the piraeus.io and storage.piraeus.io kinds.
local k = import 'lib/k8s.libsonnet';
local component = 'piraeus-operator';
local name = 'piraeus-operator';
local verbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
local read = ['get', 'list', 'watch'];

// Least privilege for the converge loop and the webhook, tested by running
// the loop as this ServiceAccount (operator tests). Cluster-wide: the
// cluster-scoped kinds the plan renders, the inputs it reads, the status
// it writes and Events (those about cluster-scoped objects land in
// "default"). Storage state is applied but never deleted (prune keeps it).
local clusterRules = [
  k.rule([''], ['namespaces'], verbs),
  k.rule([''], ['nodes', 'persistentvolumes', 'persistentvolumeclaims'], read),
  k.rule(['rbac.authorization.k8s.io'], ['clusterroles', 'clusterrolebindings'], verbs),
  // The operator grants the components their RBAC without holding it itself.
  k.rule(['rbac.authorization.k8s.io'], ['clusterroles'], ['bind', 'escalate']),
  k.rule(['apiextensions.k8s.io'], ['customresourcedefinitions'], verbs),
  k.rule(['admissionregistration.k8s.io'], ['validatingwebhookconfigurations'], verbs),
  k.rule(['storage.k8s.io'], ['csidrivers', 'storageclasses'], verbs),
  k.rule(['piraeus.io'], ['linstorclusters', 'linstorsatelliteconfigurations', 'linstornodeconnections'], read),
  k.rule(['piraeus.io'], ['linstorsatellites'], verbs),
  k.rule(['piraeus.io'], ['linstorclusters/status', 'linstorsatelliteconfigurations/status', 'linstornodeconnections/status', 'linstorsatellites/status'], ['get', 'patch']),
  k.rule(['storage.piraeus.io'], ['storagetopologies', 'storagevolumes'], read + ['create', 'update', 'patch']),
  // The webhook refuses deleting a StorageVolume that has snapshots; the
  // plan gives new replicas numbers the controller's ledgers do not hold.
  k.rule(['storage.piraeus.io'], ['storagesnapshots', 'nodeallocations'], read),
] + k.eventRules;

// In the operator's own namespace: the namespaced objects the plan renders,
// the ApplySet parent Secret, the Leases (its own election, the
// controller's for LinstorCluster Available).
local namespacedRules = [
  k.rule([''], ['serviceaccounts', 'services', 'secrets'], verbs),
  k.rule(['apps'], ['deployments', 'daemonsets'], verbs),
  k.rule(['rbac.authorization.k8s.io'], ['roles', 'rolebindings'], verbs),
  k.rule(['rbac.authorization.k8s.io'], ['roles'], ['bind', 'escalate']),
  k.leaseRule,
];

local podSpec(input) = {
  serviceAccountName: name,
  securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
  containers: [
    k.piraeusctl(input, 'manager', ['operator']) + k.healthProbes + {
      env: k.podEnv,
      ports+: [{ name: 'webhook', containerPort: 9443, protocol: 'TCP' }],
      securityContext: k.restricted,
      resources: { requests: { cpu: '50m', memory: '64Mi' } },
      volumeMounts: [k.mount('webhook-cert', '/tmp/k8s-webhook-server/serving-certs', readOnly=true)],
    },
  ],
  volumes: [k.secretVolume('webhook-cert', 'webhook-server-cert')],
};

function(input)
  if !input.components.operator then [] else
    k.identity(input, component, name, clusterRules, namespacedRules)
    + [k.deployment(input, component, name, podSpec(input))]
