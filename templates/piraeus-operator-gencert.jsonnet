// piraeus-operator-gencert: keeps the webhook's serving certificate (Secret
// webhook-server-cert) and the caBundle of the webhook configuration current,
// and the internal TLS between controller and agents: the internal CA, the
// controller's client certificate and one certificate per satellite.
// Also renders the webhook Service and the ValidatingWebhookConfiguration.
local k = import 'lib/k8s.libsonnet';
local component = 'piraeus-operator-gencert';
local name = 'piraeus-operator-gencert';
local secret = 'webhook-server-cert';
local webhookConfig = 'piraeus-operator-validating-webhook-configuration';
local webhookService = 'piraeus-operator-webhook-service';
local internalCA = 'linstor-internal-ca';

// The controller's internal Secret, when gencert keeps it (not when the user
// names their own or cert-manager provisions it).
local controllerSecrets(input) = if input.tls.internalGencert then [input.tls.internal.secretName] else [];

// Every Secret gencert keeps: the webhook's, the internal CA, the
// controller's and each satellite's that is gencert's (the plan knows them
// all; a new node re-renders this Role).
local secrets(input) = std.uniq(std.sort(
  [secret, internalCA] + controllerSecrets(input)
  + [sat.tls.secretName for sat in input.satellites if sat.tls.gencert]
));

// Least privilege: these Secrets and the one webhook configuration, by name.
// `create` cannot be limited by resourceNames, so it is a rule of its own.
// The Lease of its leader election likewise. Satellite DaemonSets are read
// to learn each node's Secret; gencert deletes nothing: a satellite's Secret
// is owned by its DaemonSet and goes with it (garbage collector).
local namespacedRules(input) = [
  k.rule([''], ['secrets'], ['get', 'update'], names=secrets(input)),
  k.rule([''], ['secrets'], ['create']),
  k.rule(['apps'], ['daemonsets'], ['list', 'watch']),
  k.rule(['coordination.k8s.io'], ['leases'], ['get', 'update'], names=[name]),
  k.rule(['coordination.k8s.io'], ['leases'], ['create']),
];
local clusterRules = [
  k.rule(['admissionregistration.k8s.io'], ['validatingwebhookconfigurations'], ['get', 'patch'], names=[webhookConfig]),
];

local webhook(input, hookName, group, version, resource, operations=['CREATE', 'UPDATE']) = {
  name: hookName,
  admissionReviewVersions: ['v1'],
  sideEffects: 'None',
  timeoutSeconds: 5,
  failurePolicy: 'Fail',
  matchPolicy: 'Equivalent',
  clientConfig: {
    service: {
      name: webhookService,
      namespace: input.namespace,
      path: '/validate-%s-%s-%s' % [std.strReplace(group, '.', '-'), version, std.asciiLower(resource)],
      port: 443,
    },
  },
  rules: [{
    apiGroups: [group],
    apiVersions: [version],
    operations: operations,
    resources: [resource],
    scope: 'Cluster',
  }],
};

function(input)
  if !input.components.operator then [] else
    k.identity(input, component, name, clusterRules, namespacedRules(input))
    + [
      k.deployment(input, component, name, {
        serviceAccountName: name,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          k.piraeusctl(input, 'gencert', [
            'gencert',
            '--namespace=$(POD_NAMESPACE)',
            '--secret-name=' + secret,
            '--webhook-config-name=' + webhookConfig,
            '--webhook-service-name=' + webhookService,
            '--internal-ca-secret=' + internalCA,
            '--internal-controller-secret=' + std.join('', controllerSecrets(input)),
          ]) + k.healthProbes + {
            env: k.podEnv,
            securityContext: k.restricted,
            resources: { requests: { cpu: '10m', memory: '32Mi' } },
          },
        ],
      }),
      k.service(input, component, webhookService, 'piraeus-operator', [
        { name: 'webhook', port: 443, targetPort: 9443, protocol: 'TCP' },
      ]),
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: k.metadata(input, component, webhookConfig, namespaced=false) + {
          annotations: {
            // Why Fail rather than Ignore: an unchecked LinstorCluster, satellite
            // configuration, node connection or StorageTopology can render a plan
            // that strands or destroys replicas. While the operator is down, edits
            // to these four kinds wait; nothing else in the cluster is matched.
            'piraeus.io/failure-policy': 'Fail: unvalidated datastore specs can strand or destroy replicas; only piraeus.io and storage.piraeus.io kinds are matched, so an outage blocks nothing else',
          },
        },
        webhooks: [
          webhook(input, 'vlinstorcluster.piraeus.io', 'piraeus.io', 'v1', 'linstorclusters'),
          webhook(input, 'vlinstornodeconnection.piraeus.io', 'piraeus.io', 'v1', 'linstornodeconnections'),
          webhook(input, 'vlinstorsatelliteconfiguration.piraeus.io', 'piraeus.io', 'v1', 'linstorsatelliteconfigurations'),
          webhook(input, 'vstoragetopology.storage.piraeus.io', 'storage.piraeus.io', 'v1alpha1', 'storagetopologies'),
          // Only deletions: the CRD itself refuses changed allocations, so the
          // controller's writes never wait for the webhook.
          webhook(input, 'vstoragevolume.storage.piraeus.io', 'storage.piraeus.io', 'v1alpha1', 'storagevolumes', ['DELETE']),
        ],
      },
    ]
