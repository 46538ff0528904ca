// piraeus-operator: converges every rendered object and serves the
// validating webhook (port 9443) for the piraeus.io and storage.piraeus.io kinds.
local k = import 'lib/k8s.libsonnet';
local component = 'piraeus-operator';
local name = 'piraeus-operator';
local verbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
local read = ['get', 'list', 'watch'];

// Everything the plan contains, plus the inputs the operator watches.
local clusterRules = [
  k.rule([''], ['namespaces', 'serviceaccounts', 'services', 'configmaps', 'secrets'], verbs),
  k.rule([''], ['nodes', 'pods', 'persistentvolumes', 'persistentvolumeclaims'], read),
  k.rule(['apps'], ['deployments', 'daemonsets'], verbs),
  k.rule(['rbac.authorization.k8s.io'], ['clusterroles', 'clusterrolebindings', 'roles', 'rolebindings'], verbs),
  // The operator grants the components their RBAC without holding it itself.
  k.rule(['rbac.authorization.k8s.io'], ['clusterroles', 'roles'], ['bind', 'escalate']),
  k.rule(['apiextensions.k8s.io'], ['customresourcedefinitions'], verbs),
  k.rule(['admissionregistration.k8s.io'], ['validatingwebhookconfigurations'], verbs),
  k.rule(['storage.k8s.io'], ['csidrivers', 'storageclasses'], verbs),
  k.rule(['piraeus.io'], ['linstorclusters', 'linstorsatelliteconfigurations', 'linstornodeconnections'], read + ['update', 'patch']),
  k.rule(['piraeus.io'], ['linstorclusters/status', 'linstorsatelliteconfigurations/status', 'linstornodeconnections/status'], ['get', 'update', 'patch']),
  k.rule(['storage.piraeus.io'], ['storagetopologies', 'storagevolumes'], verbs),
  k.rule(['storage.piraeus.io'], ['storagetopologies/status'], ['get', 'update', 'patch']),
] + k.eventRules;

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
    k.identity(input, component, name, clusterRules, [k.leaseRule])
    + [k.deployment(input, component, name, podSpec(input))]
