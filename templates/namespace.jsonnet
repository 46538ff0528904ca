// The namespace every namespaced object of the datastore lives in.
local k = import 'lib/k8s.libsonnet';

function(input) [
  {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: input.namespace,
      labels: k.labels(input, null) + {
        // Satellites and CSI node Pods are privileged.
        'pod-security.kubernetes.io/enforce': 'privileged',
      },
    },
  },
]
