// Shared helpers: standard labels, object metadata, RBAC, containers,
// probes and volumes. Every component template imports this file.
{
  // Standard labels of every object a component renders.
  labels(input, component):: {
    'app.kubernetes.io/name': 'piraeus-datastore',
    'app.kubernetes.io/instance': input.instance,
    'app.kubernetes.io/managed-by': 'piraeusctl',
    'app.kubernetes.io/part-of': 'piraeus-datastore',
    'app.kubernetes.io/version': input.version,
  } + (if component == null then {} else { 'app.kubernetes.io/component': component }),

  // The immutable subset used in workload selectors (no version).
  selectorLabels(input, component):: {
    'app.kubernetes.io/name': 'piraeus-datastore',
    'app.kubernetes.io/instance': input.instance,
    'app.kubernetes.io/component': component,
  },

  metadata(input, component, name, namespaced=true):: {
    name: name,
    labels: $.labels(input, component),
  } + (if namespaced then { namespace: input.namespace } else {}),

  serviceAccount(input, component, name):: {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: $.metadata(input, component, name),
  },

  clusterRole(input, component, name, rules):: {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: $.metadata(input, component, name, namespaced=false),
    rules: rules,
  },

  clusterRoleBinding(input, component, name, role, serviceAccount):: {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: $.metadata(input, component, name, namespaced=false),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: input.namespace }],
  },

  role(input, component, name, rules):: {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: $.metadata(input, component, name),
    rules: rules,
  },

  roleBinding(input, component, name, role, serviceAccount):: {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: $.metadata(input, component, name),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
    subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: input.namespace }],
  },

  // A ServiceAccount with its ClusterRole and binding, all named `name`;
  // a Role and RoleBinding too when namespacedRules is not empty.
  identity(input, component, name, clusterRules, namespacedRules=[])::
    [$.serviceAccount(input, component, name)]
    + (if std.length(clusterRules) > 0 then [
         $.clusterRole(input, component, name, clusterRules),
         $.clusterRoleBinding(input, component, name, name, name),
       ] else [])
    + (if std.length(namespacedRules) > 0 then [
         $.role(input, component, name, namespacedRules),
         $.roleBinding(input, component, name, name, name),
       ] else []),

  rule(groups, resources, verbs, names=null):: {
    apiGroups: groups,
    resources: resources,
    verbs: verbs,
  } + (if names == null then {} else { resourceNames: names }),

  // Leader election in the component's namespace.
  leaseRule:: $.rule(['coordination.k8s.io'], ['leases'], ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']),
  eventRules:: [
    $.rule([''], ['events'], ['create', 'patch']),
    $.rule(['events.k8s.io'], ['events'], ['create', 'patch']),
  ],

  env(name, value):: { name: name, value: value },
  fieldEnv(name, path):: { name: name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: path } } },
  podEnv:: [
    $.fieldEnv('POD_NAME', 'metadata.name'),
    $.fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
  ],

  // A container running one piraeusctl subcommand.
  piraeusctl(input, name, args):: {
    name: name,
    image: input.images.piraeusctl,
    imagePullPolicy: 'IfNotPresent',
    command: ['piraeusctl'],
    args: args,
  },

  sidecar(name, image, args):: {
    name: name,
    image: image,
    imagePullPolicy: 'IfNotPresent',
    args: args,
  },

  httpProbe(port, path, period=10):: {
    httpGet: { path: path, port: port },
    periodSeconds: period,
    failureThreshold: 3,
  },

  // The health endpoints every piraeusctl Deployment serves on :8081.
  healthProbes:: {
    ports+: [{ name: 'health', containerPort: 8081, protocol: 'TCP' }],
    livenessProbe: $.httpProbe('health', '/healthz'),
    readinessProbe: $.httpProbe('health', '/readyz', period=5),
  },

  restricted:: {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
  },

  privileged:: { privileged: true },

  hostPath(name, path, type):: { name: name, hostPath: { path: path, type: type } },
  mount(name, path, readOnly=false, propagation=null)::
    { name: name, mountPath: path }
    + (if readOnly then { readOnly: true } else {})
    + (if propagation == null then {} else { mountPropagation: propagation }),

  tolerations(input):: local t = std.get(input.cluster, 'tolerations', null); if t == null then [] else t,

  // A tolerations field, left out when empty.
  tolerationsField(list):: if std.length(list) > 0 then { tolerations: list } else {},

  // Nodes selected by LinstorCluster.spec.nodeSelector/nodeAffinity.
  clusterNodeSelection(input)::
    (if std.length(std.objectFields(std.get(input.cluster, 'nodeSelector', {}))) > 0
     then { nodeSelector: input.cluster.nodeSelector } else {})
    + (if std.get(input.cluster, 'nodeAffinity', null) != null
       then { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: input.cluster.nodeAffinity } } }
       else {}),

  podTemplate(input, component, spec, extraLabels={}, annotations={}):: {
    metadata: {
      labels: $.labels(input, component) + extraLabels,
    } + (if std.length(std.objectFields(annotations)) > 0 then { annotations: annotations } else {}),
    spec: spec,
  },

  deployment(input, component, name, podSpec, replicas=1, strategy=null, annotations={}):: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: $.metadata(input, component, name),
    spec: {
      replicas: replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: $.selectorLabels(input, component) },
      template: $.podTemplate(input, component, podSpec, annotations=annotations),
    } + (if strategy == null then {} else { strategy: strategy }),
  },

  daemonSet(input, component, name, podSpec, extraLabels={}, annotations={}, metaAnnotations={}):: {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: $.metadata(input, component, name)
              + (if std.length(std.objectFields(metaAnnotations)) > 0 then { annotations: metaAnnotations } else {}),
    spec: {
      revisionHistoryLimit: 5,
      selector: { matchLabels: $.selectorLabels(input, component) + extraLabels },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: $.podTemplate(input, component, podSpec, extraLabels, annotations),
    },
  },

  service(input, component, name, selectorComponent, ports):: {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: $.metadata(input, component, name),
    spec: {
      type: 'ClusterIP',
      selector: $.selectorLabels(input, selectorComponent),
      ports: ports,
    },
  },

  secretVolume(name, secret):: { name: name, secret: { secretName: secret } },
}
