// Adds a component: a ConfigMap listing the satellites, using the shared library.
local k = import 'lib/k8s.libsonnet';
local site = import 'lib/site.libsonnet';

function(input) [
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: k.metadata(input, 'site-inventory', 'site-inventory'),
    data: {
      site: site.name,
      satellites: std.join(',', [s.name for s in input.satellites]),
      hash: std.native('sha256')('x'),
      safe: std.native('safeName')('prefix', 'Odd_Name'),
    },
  },
]
