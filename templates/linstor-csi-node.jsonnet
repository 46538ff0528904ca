// linstor-csi-node: the CSI node service (`piraeusctl csi --mode=node`) on
// every node selected by the LinstorCluster, registered with the kubelet by
// node-driver-registrar. It mounts volumes, so it is privileged and sees the
// kubelet directory with Bidirectional propagation.
local k = import 'lib/k8s.libsonnet';
local component = 'linstor-csi-node';
local name = 'linstor-csi-node';
local driver = 'linstor.csi.linbit.com';
local pluginDir = '/var/lib/kubelet/plugins/' + driver + '/';

local clusterRules = [
  k.rule([''], ['nodes'], ['get']),
];

local socketEnv = [k.env('ADDRESS', '/csi/csi.sock')];

function(input)
  if !input.components.csiNode then [] else
    k.identity(input, component, name, clusterRules)
    + [
      k.daemonSet(input, component, name, {
        serviceAccountName: name,
        priorityClassName: 'system-node-critical',
        containers: [
          k.piraeusctl(input, 'linstor-csi', [
            'csi',
            '--mode=node',
            '--csi-endpoint=unix://$(ADDRESS)',
            '--node=$(KUBE_NODE_NAME)',
          ]) + {
            env: socketEnv + [
              k.fieldEnv('KUBE_NODE_NAME', 'spec.nodeName'),
              k.env('LS_CONTROLLERS', input.controllerEndpoint),
            ],
            ports: [{ name: 'healthz', containerPort: 9808, protocol: 'TCP' }],
            livenessProbe: k.httpProbe('healthz', '/healthz'),
            securityContext: k.privileged,
            volumeMounts: [
              k.mount('plugin-dir', '/csi'),
              k.mount('publish-dir', '/var/lib/kubelet', propagation='Bidirectional'),
              k.mount('device-dir', '/dev'),
            ],
          },
          k.sidecar('csi-node-driver-registrar', input.images['csi-node-driver-registrar'], [
            '--csi-address=$(ADDRESS)',
            '--kubelet-registration-path=$(DRIVER_REG_SOCK_PATH)',
            '--health-port=9809',
          ]) + {
            env: socketEnv + [k.env('DRIVER_REG_SOCK_PATH', pluginDir + 'csi.sock')],
            ports: [{ name: 'registrar', containerPort: 9809, protocol: 'TCP' }],
            livenessProbe: k.httpProbe('registrar', '/healthz'),
            securityContext: k.restricted,
            volumeMounts: [
              k.mount('plugin-dir', '/csi'),
              k.mount('registration-dir', '/registration'),
            ],
          },
          k.sidecar('csi-livenessprobe', input.images.livenessprobe, ['--csi-address=$(ADDRESS)']) + {
            env: socketEnv,
            securityContext: k.restricted,
            volumeMounts: [k.mount('plugin-dir', '/csi')],
          },
        ],
        volumes: [
          k.hostPath('device-dir', '/dev', 'Directory'),
          k.hostPath('plugin-dir', pluginDir, 'DirectoryOrCreate'),
          k.hostPath('publish-dir', '/var/lib/kubelet', 'Directory'),
          k.hostPath('registration-dir', '/var/lib/kubelet/plugins_registry', 'Directory'),
        ],
      } + k.tolerationsField(k.tolerations(input)) + k.clusterNodeSelection(input)),
    ]
