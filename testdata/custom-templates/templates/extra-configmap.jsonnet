// An extra component a user adds: a ConfigMap with the node names.
function(input) [
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'storage-nodes', namespace: input.namespace },
    data: { nodes: std.join(',', [s.node for s in input.satellites]) },
  },
]
