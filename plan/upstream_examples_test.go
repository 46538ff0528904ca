package plan_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// upstreamExamplesDir holds the YAML examples of piraeus-operator's v2
// documentation, unchanged; SOURCES.md says where each came from.
const upstreamExamplesDir = "../testdata/upstream-examples"

// upstreamPassthrough are the other kinds the documentation shows next to
// its piraeus.io examples (Secrets holding TLS keys or the passphrase).
var upstreamPassthrough = []string{"Secret"}

// upstreamChecks states a few facts each example implies, beyond loading.
// Every example file must have an entry, so a new example gets a check.
var upstreamChecks = map[string]func(t *testing.T, m *plan.Model){
	"api-tls-1.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "linstor-api-ca", m.Cluster.Spec.ApiTLS.CertManager.Name)
	},
	"api-tls-2.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "linstor-client-tls", m.Cluster.Spec.ApiTLS.CsiNodeSecretName)
	},
	"drbd-host-networking-1.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, `"hostNetwork":true`)
	},
	"drbd-loader-1.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, `"$patch":"delete"`)
	},
	"drbd-loader-2.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, "example.com/drbd-loader:v9")
	},
	"drbd-loader-3.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, "deps_only")
	},
	"drbd-tls-1.yaml": func(t *testing.T, m *plan.Model) {
		for _, n := range m.Topology.Spec.Nodes {
			require.NotNil(t, n.InternalTLS, n.Name)
			require.True(t, n.InternalTLS.TLSHandshakeDaemon, n.Name)
		}
	},
	"drbd-tls-2.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "yes", m.Topology.Spec.Properties["DrbdOptions/Net/tls"])
	},
	"external-controller-1.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "http://linstor-controller.example.com:3370", m.Cluster.Spec.ExternalController.URL)
	},
	"external-controller-2.yaml": func(t *testing.T, m *plan.Model) {
		requirePatchesOnEveryNode(t, m, 1)
	},
	"flatcar-1.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, "usr-src")
	},
	"get-started-1.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, allNodes, satelliteNodes(m), "an empty spec selects every node")
	},
	"get-started-2.yaml": func(t *testing.T, m *plan.Model) {
		requirePools(t, m, allNodes, "pool1:FILE_THIN")
		require.Equal(t, "/var/lib/piraeus-datastore/pool1", m.Topology.Spec.Nodes[0].StoragePools[0].Directory)
	},
	"http-proxy-1.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, "HTTPS_PROXY")
	},
	"image-configuration-1.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "registry.example.com/piraeus", m.Cluster.Spec.Repository)
	},
	"internal-tls-1.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "linstor-internal-ca", m.Cluster.Spec.InternalTLS.CertManager.Name)
		for _, n := range m.Topology.Spec.Nodes {
			require.Equal(t, "linstor-internal-ca", n.InternalTLS.CertManager.Name, n.Name)
		}
	},
	"internal-tls-2.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "linstor-controller-internal-tls", m.Cluster.Spec.InternalTLS.SecretName)
		for _, n := range m.Topology.Spec.Nodes {
			require.Equal(t, "linstor-satellite-internal-tls", n.InternalTLS.SecretName, n.Name)
		}
	},
	"k0s-1.yaml": func(t *testing.T, m *plan.Model) {
		require.True(t, m.Cluster.Spec.CSINode.Enabled)
		require.Contains(t, string(m.Cluster.Spec.CSINode.PodTemplate), "/var/lib/k0s/kubelet")
	},
	"linstorcluster-01.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, []string{"n1.example.com", "n2.example.com"}, satelliteNodes(m))
	},
	"linstorcluster-02.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, []string{"n1.example.com", "n2.example.com"}, satelliteNodes(m), "zones a, b and no control plane")
	},
	"linstorcluster-03.yaml": func(t *testing.T, m *plan.Model) {
		require.Len(t, m.Cluster.Spec.Tolerations, 1)
		require.Equal(t, "node-role.kubernetes.io/control-plane", m.Cluster.Spec.Tolerations[0].Key)
	},
	"linstorcluster-04.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "registry.example.com/piraeus-mirror", m.Cluster.Spec.Repository)
	},
	"linstorcluster-05.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, map[string]string{"TcpPortAutoRange": "10000-20000"}, m.Topology.Spec.Properties)
	},
	"linstorcluster-06.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "linstor-passphrase", m.Cluster.Spec.LinstorPassphraseSecret)
		require.Len(t, m.Passthrough, 1, "the Secret is passed through")
	},
	"linstorcluster-07.yaml": func(t *testing.T, m *plan.Model) {
		require.Len(t, m.Cluster.Spec.Patches, 2)
		require.Equal(t, "Daemonset", m.Cluster.Spec.Patches[0].Target.Kind)
	},
	"linstorcluster-08.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "http://linstor.example.com:3370", m.Cluster.Spec.ExternalController.URL)
	},
	"linstorcluster-09.yaml": func(t *testing.T, m *plan.Model) {
		require.True(t, m.Cluster.Spec.Controller.Enabled)
		require.Contains(t, string(m.Cluster.Spec.Controller.PodTemplate), "linstor-controller")
	},
	"linstorcluster-10.yaml": func(t *testing.T, m *plan.Model) {
		require.EqualValues(t, 2, *m.Cluster.Spec.CSIController.Replicas)
	},
	"linstorcluster-11.yaml": func(t *testing.T, m *plan.Model) {
		require.Contains(t, string(m.Cluster.Spec.CSINode.PodTemplate), "linstor-csi")
	},
	"linstorcluster-12.yaml": func(t *testing.T, m *plan.Model) {
		require.Contains(t, string(m.Cluster.Spec.HighAvailabilityController.PodTemplate), "ha-controller")
	},
	"linstorcluster-13.yaml": func(t *testing.T, m *plan.Model) {
		require.EqualValues(t, 3, *m.Cluster.Spec.AffinityController.Replicas)
	},
	"linstorcluster-14.yaml": func(t *testing.T, m *plan.Model) {
		require.True(t, m.Cluster.Spec.NFSServer.Enabled)
		require.Contains(t, string(m.Cluster.Spec.NFSServer.PodTemplate), "nfs-server")
	},
	"linstorcluster-15.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "my-linstor-controller-tls", m.Cluster.Spec.InternalTLS.SecretName)
		require.Len(t, m.Passthrough, 1)
	},
	"linstorcluster-16.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "trust-root", m.Cluster.Spec.InternalTLS.CAReference.Name)
		require.Equal(t, "ConfigMap", m.Cluster.Spec.InternalTLS.CAReference.Kind)
	},
	"linstorcluster-17.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "my-linstor-client-tls", m.Cluster.Spec.ApiTLS.NFSServerSecretName)
		require.Len(t, m.Passthrough, 2)
	},
	"linstorcluster-18.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "Secret", m.Cluster.Spec.ApiTLS.CAReference.Kind)
	},
	"linstorcluster-19.yaml": func(t *testing.T, m *plan.Model) {
		require.EqualValues(t, 2, m.Cluster.Spec.MaxConcurrentEvacuations)
	},
	"linstornodeconnection-01.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, []string{"n1.example.com/n2.example.com"}, connectionPairs(m), "both nodes labelled storage=yes")
	},
	"linstornodeconnection-02.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, []string{"n1.example.com/n2.example.com"}, connectionPairs(m), "same region, different zone")
	},
	"linstornodeconnection-03.yaml": func(t *testing.T, m *plan.Model) {
		require.Len(t, connectionPairs(m), 3, "no selector: every pair")
		for _, c := range m.Topology.Spec.NodeConnections {
			require.Equal(t, []piraeusv1.LinstorNodeConnectionPath{{Name: "path1", Interface: "data-nic"}}, c.Paths)
		}
	},
	"linstornodeconnection-04.yaml": func(t *testing.T, m *plan.Model) {
		require.Len(t, connectionPairs(m), 3)
		for _, c := range m.Topology.Spec.NodeConnections {
			require.Equal(t, "C", c.Properties["DrbdOptions/Net/protocol"])
		}
	},
	"linstorsatelliteconfiguration-01.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "no", nodeProperties(t, m, "n1.example.com")["AutoplaceTarget"])
		require.NotContains(t, nodeProperties(t, m, "n2.example.com"), "AutoplaceTarget")
	},
	"linstorsatelliteconfiguration-02.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "no", nodeProperties(t, m, "n3.example.com")["AutoplaceTarget"], "the control-plane node")
		require.NotContains(t, nodeProperties(t, m, "n1.example.com"), "AutoplaceTarget")
	},
	"linstorsatelliteconfiguration-03.yaml": func(t *testing.T, m *plan.Model) {
		n1 := nodeProperties(t, m, "n1.example.com")
		require.Equal(t, "default-ipv6", n1["PrefNic"])
		require.Equal(t, "example-value", n1["Aux/example-property"])
		require.Equal(t, "no", n1["AutoplaceTarget"], "from the annotation")
		require.Equal(t, "true", n1["Aux/role/worker"])
		require.Equal(t, "gpu,storage", n1["Aux/features"])
		n3 := nodeProperties(t, m, "n3.example.com")
		require.Equal(t, "", n3["Aux/example-property"], "valueFrom without the label gives an empty value")
		require.NotContains(t, n3, "AutoplaceTarget", "optional and empty: not set")
		require.Contains(t, n3, "Aux/role/control-plane")
	},
	"linstorsatelliteconfiguration-04.yaml": func(t *testing.T, m *plan.Model) {
		requirePools(t, m, allNodes, "fs1:FILE", "fs2:FILE_THIN", "vg1:LVM", "vg1-thin:LVM_THIN",
			"vg2-from-raw-devices:LVM", "zfs1:ZFS", "zfs2:ZFS_THIN")
		pools := m.Topology.Spec.Nodes[0].StoragePools
		require.Equal(t, []string{"/dev/sdb", "/dev/sdc"}, pools[4].HostDevices)
		require.Equal(t, "-i 2", pools[4].Properties["StorDriver/LvcreateOptions"])
		require.Equal(t, "zfs-thin2", pools[6].ZPool)
	},
	"linstorsatelliteconfiguration-05.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "my-node-tls", m.Topology.Spec.Nodes[0].InternalTLS.SecretName)
		require.Len(t, m.Passthrough, 1)
	},
	"linstorsatelliteconfiguration-06.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "piraeus-root", m.Topology.Spec.Nodes[0].InternalTLS.CertManager.Name)
	},
	"linstorsatelliteconfiguration-07.yaml": func(t *testing.T, m *plan.Model) {
		for _, n := range m.Topology.Spec.Nodes {
			require.Equal(t, piraeusv1.DeletionPolicy("Evacuate"), n.DeletionPolicy, n.Name)
		}
	},
	"linstorsatelliteconfiguration-08.yaml": func(t *testing.T, m *plan.Model) {
		s := m.SatelliteConfigurations[0].Spec.EvacuationStrategy
		require.NotNil(t, s)
		require.Equal(t, "1h0m0s", s.AttachedVolumeReattachTimeout.Duration.String())
		require.Equal(t, "30m0s", s.UnattachedVolumeAttachTimeout.Duration.String())
	},
	"linstorsatelliteconfiguration-09.yaml": func(t *testing.T, m *plan.Model) {
		for _, n := range m.Topology.Spec.Nodes {
			require.Equal(t, []piraeusv1.IPFamily{"IPv4"}, n.IPFamilies, n.Name)
		}
	},
	"linstorsatelliteconfiguration-10.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, "100m")
	},
	"linstorsatelliteconfiguration-11.yaml": func(t *testing.T, m *plan.Model) {
		requirePatchesOnEveryNode(t, m, 1)
		require.Equal(t, "satellite-config", m.Satellites[0].Patches[0].Target.Name)
	},
	"microk8s-1.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, "linstor-csi-node", m.Cluster.Spec.Patches[0].Target.Name)
	},
	"minikube-1.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, []string{"minikube"}, satelliteWithTemplates(m), "only n1 runs minikube")
	},
	"openshift-1.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, "kernel-header-copy")
	},
	"raspian-1.yaml": func(t *testing.T, m *plan.Model) {
		require.Equal(t, []string{"raspi-kbuild"}, satelliteWithTemplates(m), "only n2 is arm64")
	},
	"secure-boot-1.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, "drbd-signing-keys")
	},
	"talos-1.yaml": func(t *testing.T, m *plan.Model) {
		requirePodTemplateOnEveryNode(t, m, "/var/etc/lvm/backup")
	},
}

// knownLoaderBugs are examples the loader still rejects, with the error it
// gives. They are reported to the loader's owner; the test fails as soon as
// one loads, so the entry is removed with the fix.
var knownLoaderBugs = map[string]string{}

var allNodes = []string{"n1.example.com", "n2.example.com", "n3.example.com"}

func TestUpstreamExamplesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(upstreamExamplesDir, "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 50, "the upstream examples are missing")
	nodes, _, err := plan.ReadSources(t.Context(), []string{filepath.Join(upstreamExamplesDir, "nodes")}, nil)
	require.NoError(t, err)
	schemas, err := plan.NewSchemas()
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			require.Contains(t, string(data), "apiVersion: piraeus.io/v1", "every example shows a piraeus.io kind")
			srcs := append([]plan.Source{{Name: f, Data: data}}, nodes...)
			m, err := plan.Load(t.Context(), srcs, plan.LoadOptions{Schemas: schemas, PassthroughKinds: upstreamPassthrough})
			if bug, known := knownLoaderBugs[name]; known {
				require.ErrorContains(t, err, bug, "known loader bug fixed? remove %s from knownLoaderBugs", name)
				return
			}
			require.NoError(t, err, "upstream's example must load unchanged")
			check, ok := upstreamChecks[name]
			require.True(t, ok, "no check for %s in upstreamChecks", name)
			check(t, m)
		})
	}
	for name := range upstreamChecks {
		require.True(t, seen[name], "upstreamChecks names %s, which is not in %s", name, upstreamExamplesDir)
	}
}

// TestUpstreamExamplesListedInSources keeps SOURCES.md complete.
func TestUpstreamExamplesListedInSources(t *testing.T) {
	sources, err := os.ReadFile(filepath.Join(upstreamExamplesDir, "SOURCES.md"))
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(upstreamExamplesDir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		require.Contains(t, string(sources), "`"+filepath.Base(f)+"`", "SOURCES.md does not say where %s came from", f)
	}
}

func satelliteNodes(m *plan.Model) []string {
	out := make([]string, 0, len(m.Satellites))
	for _, s := range m.Satellites {
		out = append(out, s.Node)
	}
	return out
}

// satelliteWithTemplates lists the configurations whose pod templates reach
// some satellite.
func satelliteWithTemplates(m *plan.Model) []string {
	set := map[string]bool{}
	for _, s := range m.Satellites {
		if len(s.PodTemplates) > 0 {
			for _, c := range s.Configurations {
				set[c] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func requirePodTemplateOnEveryNode(t *testing.T, m *plan.Model, contains string) {
	t.Helper()
	require.Len(t, m.Satellites, len(allNodes))
	for _, s := range m.Satellites {
		require.Len(t, s.PodTemplates, 1, s.Node)
		require.Contains(t, string(s.PodTemplates[0]), contains, s.Node)
	}
}

func requirePatchesOnEveryNode(t *testing.T, m *plan.Model, n int) {
	t.Helper()
	require.Len(t, m.Satellites, len(allNodes))
	for _, s := range m.Satellites {
		require.Len(t, s.Patches, n, s.Node)
	}
}

// requirePools checks the pools ("name:PROVIDER", sorted by name) on nodes.
func requirePools(t *testing.T, m *plan.Model, nodes []string, pools ...string) {
	t.Helper()
	var got []string
	for _, n := range m.Topology.Spec.Nodes {
		got = append(got, n.Name)
		var have []string
		for _, p := range n.StoragePools {
			have = append(have, p.Name+":"+string(p.ProviderKind))
		}
		require.Equal(t, pools, have, n.Name)
	}
	require.Equal(t, nodes, got)
}

func nodeProperties(t *testing.T, m *plan.Model, node string) map[string]string {
	t.Helper()
	for _, n := range m.Topology.Spec.Nodes {
		if n.Name == node {
			return n.Properties
		}
	}
	require.FailNow(t, "node has no satellite", node)
	return nil
}

func connectionPairs(m *plan.Model) []string {
	out := []string{}
	for _, c := range m.Topology.Spec.NodeConnections {
		out = append(out, c.NodeA+"/"+c.NodeB)
	}
	return out
}
