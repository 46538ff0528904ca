// linstor-controller: one active controller (leader election) that converges
// the StorageTopology and serves the storage API to CSI (3370, or 3371 with TLS).
local k = import 'lib/k8s.libsonnet';
local component = 'linstor-controller';
local name = 'linstor-controller';

local clusterRules = [
  k.rule(['storage.piraeus.io'], ['*'], ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']),
  k.rule([''], ['nodes'], ['get', 'list', 'watch']),
] + k.eventRules;

// The agents accept only mutual TLS: the controller always mounts its client
// certificate (kept by piraeus-operator-gencert unless the user brings it).
local tlsVolumes(input) =
  (if input.tls.api != null then [k.secretVolume('api-tls', input.tls.api.apiSecretName)] else [])
  + [k.secretVolume('internal-tls', input.tls.internal.secretName)];

local tlsMounts(input) =
  (if input.tls.api != null then [k.mount('api-tls', '/etc/linstor/ssl-api', readOnly=true)] else [])
  + [k.mount('internal-tls', '/etc/linstor/ssl', readOnly=true)];

local passphraseEnv(input) =
  local secret = std.get(input.cluster, 'linstorPassphraseSecret', '');
  if secret == '' then [] else [{
    name: 'MASTER_PASSPHRASE',
    valueFrom: { secretKeyRef: { name: secret, key: 'MASTER_PASSPHRASE' } },
  }];

function(input)
  if !input.components.controller then [] else
    local port = if input.tls.api != null then 3371 else 3370;
    local portName = if input.tls.api != null then 'api-tls' else 'api';
    local args = ['controller', '--namespace=$(POD_NAMESPACE)', '--leader-elect']
                 + (if input.tls.api != null then ['--api-tls-dir=/etc/linstor/ssl-api'] else [])
                 + ['--internal-tls-dir=/etc/linstor/ssl'];
    // ConfigMaps hold the LINSTOR API's key-value store (linstor-kv-<name>).
    k.identity(input, component, name, clusterRules, [k.leaseRule, k.rule([''], ['configmaps'], ['get', 'list', 'create', 'update', 'delete'])])
    + [
      k.deployment(input, component, name, {
        serviceAccountName: name,
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          k.piraeusctl(input, name, args) + k.healthProbes + {
            env: k.podEnv + passphraseEnv(input),
            ports+: [{ name: portName, containerPort: port, protocol: 'TCP' }],
            securityContext: k.restricted,
            resources: { requests: { cpu: '50m', memory: '128Mi' } },
            volumeMounts: tlsMounts(input),
          },
        ],
        volumes: tlsVolumes(input),
      }, annotations={
        // Rolls the controller when cluster-level properties change.
        'piraeus.io/properties-hash': std.native('sha256')(std.manifestJsonMinified(std.get(input.cluster, 'properties', []))),
      }),
      k.service(input, component, name, component, [
        { name: portName, port: port, targetPort: portName, protocol: 'TCP' },
      ]),
    ]
