package plan_test

import (
	"context"
	"fmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/render"
)

// twoNodes is a small valid spec: two nodes with a thin pool each.
const twoNodes = `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {topology.kubernetes.io/zone: a}}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {topology.kubernetes.io/zone: b}}
---
apiVersion: piraeus.io/v1
kind: LinstorSatelliteConfiguration
metadata: {name: pools}
spec:
  storagePools:
  - name: thin
    lvmThinPool: {volumeGroup: vg, thinPool: thin}
`

// replicatedClass is a linstor-csi StorageClass with two replicas.
const replicatedClass = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: replicated}
provisioner: linstor.csi.linbit.com
parameters: {placementCount: "2"}
`

// claimOf is a PersistentVolumeClaim of class with the given size.
func claimOf(class, size string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: web, uid: 11111111-2222-4333-8444-555555555555}
spec:
  storageClassName: %s
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: %q}}
`, class, size)
}

// nodeWithCapacity is a Node annotated with the capacity of pool thin.
func nodeWithCapacity(capacity string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Node
metadata:
  name: n3
  annotations: {storage.piraeus.io/capacity.thin: %q}
`, capacity)
}

// previousTopology is a StorageTopology holding the volume of claimOf.
func previousTopology(port, minor int, ids ...int) string {
	return fmt.Sprintf(`apiVersion: storage.piraeus.io/v1alpha1
kind: StorageTopology
metadata: {name: default}
spec:
  allocation: {portMin: 7000, portMax: 7999, minorMin: 1000, minorMax: 1048575}
---
apiVersion: storage.piraeus.io/v1alpha1
kind: StorageVolume
metadata: {name: pvc-11111111-2222-4333-8444-555555555555}
spec:
  resourceGroup: replicated
  volumes: [{number: 0, sizeBytes: 1073741824}]
  replicas:
  - {node: n1, storagePool: thin, nodeId: %d, port: %d, minors: [%d]}
  - {node: n2, storagePool: thin, nodeId: %d, port: %d, minors: [%d]}
`, ids[0], port, minor, ids[1], port, minor)
}

// buildDocs builds a plan from YAML documents (each its own file, in.yaml,
// in2.yaml, ...) and returns the outcome, the error text and the warnings.
func buildDocs(t *testing.T, opts plan.BuildOptions, docs ...string) (*plan.Built, string, string) {
	t.Helper()
	opts.Schemas = testSchemas(t)
	opts.Placement.AllowUnplaced = true
	var srcs []plan.Source
	for i, d := range docs {
		name := "in.yaml"
		if i > 0 {
			name = fmt.Sprintf("in%d.yaml", i+1)
		}
		srcs = append(srcs, plan.Source{Name: name, Data: []byte(d)})
	}
	built, err := plan.Build(t.Context(), srcs, opts)
	if err != nil {
		return nil, err.Error(), ""
	}
	return built, "", built.Model.Warnings.Error()
}

// TestNoSilentNonsense holds issue 18 §2: out-of-range quantities, invalid
// names, conflicting parameter spellings and bad previous allocations are
// refused with the field; what matches nothing is warned about.
func TestNoSilentNonsense(t *testing.T) {
	docs := func(d ...string) func(*testing.T) (string, string) {
		return func(t *testing.T) (string, string) {
			_, e, w := buildDocs(t, plan.BuildOptions{}, d...)
			return e, w
		}
	}
	withOptions := func(opts plan.BuildOptions, d ...string) func(*testing.T) (string, string) {
		return func(t *testing.T) (string, string) {
			_, e, w := buildDocs(t, opts, d...)
			return e, w
		}
	}
	tests := []struct {
		name     string
		run      func(t *testing.T) (errText, warnings string)
		wantErr  string
		wantWarn string
	}{
		// Quantities.
		{name: "pool capacity 1e100", run: docs(twoNodes, nodeWithCapacity("1e100")),
			wantErr: `in2.yaml:5:17: Node/n3: metadata.annotations[storage.piraeus.io/capacity.thin]: Invalid value: "1e100": expected the capacity of the pool in bytes: a positive quantity of at most 9223372036854775807`},
		{name: "pool capacity 2^63 does not wrap negative", run: docs(twoNodes, nodeWithCapacity("9223372036854775808")),
			wantErr: `Invalid value: "9223372036854775808": expected the capacity of the pool in bytes: a positive quantity`},
		{name: "pool capacity 0", run: docs(twoNodes, nodeWithCapacity("0")),
			wantErr: `Invalid value: "0": expected the capacity of the pool in bytes: a positive quantity`},
		{name: "claim of size 0", run: docs(twoNodes, replicatedClass, claimOf("replicated", "0")),
			wantErr: `in3.yaml:7:26: PersistentVolumeClaim/web/data: spec.resources.requests[storage]: Invalid value: "0": expected the size of the volume (1Pi is the largest DRBD device): a positive quantity of at most 1Pi`},
		{name: "claim of size -1Gi", run: docs(twoNodes, replicatedClass, claimOf("replicated", "-1Gi")),
			wantErr: `spec.resources.requests[storage]: Invalid value: "-1Gi": expected the size of the volume`},
		{name: "claim of size 1e100", run: docs(twoNodes, replicatedClass, claimOf("replicated", "1e100")),
			wantErr: `spec.resources.requests[storage]: Invalid value: "10e99": expected the size of the volume`},

		// Namespaces and names.
		{name: "-n Bad_NS", run: withOptions(plan.BuildOptions{LoadOptions: plan.LoadOptions{Namespace: "Bad_NS"}}, twoNodes),
			wantErr: `namespace "Bad_NS" for the datastore: a lowercase RFC 1123 label must consist of`},
		{name: "-n ../../etc", run: withOptions(plan.BuildOptions{LoadOptions: plan.LoadOptions{Namespace: "../../etc"}}, twoNodes),
			wantErr: `namespace "../../etc" for the datastore`},
		{name: "a claim in an invalid namespace", run: docs(twoNodes, replicatedClass, strings.Replace(claimOf("replicated", "1Gi"), "namespace: web", "namespace: Web_1", 1)),
			wantErr: `PersistentVolumeClaim/Web_1/data: metadata.namespace: invalid namespace "Web_1"`},
		{name: "a 253-character node name gives valid derived names", run: func(t *testing.T) (string, string) {
			name := strings.Repeat("n", 63) + "." + strings.Repeat("m", 63) + "." + strings.Repeat("o", 63) + "." + strings.Repeat("p", 61)
			require.Len(t, name, 253)
			built, e, w := buildDocs(t, plan.BuildOptions{}, strings.ReplaceAll(twoNodes, "name: n1,", "name: "+name+","))
			require.Empty(t, e)
			p, err := render.Render(t.Context(), built.Model, render.Options{})
			require.NoError(t, err)
			var secrets []string
			for _, o := range p.Objects {
				for _, v := range nestedVolumes(o.Object) {
					if s, ok := v["secret"].(map[string]any); ok {
						secrets = append(secrets, s["secretName"].(string))
					}
				}
			}
			require.NotEmpty(t, secrets)
			for _, s := range secrets {
				require.Empty(t, validation.IsDNS1123Subdomain(s), "Secret name %q", s)
			}
			return "", w
		}},

		// StorageClass parameters: one setting, two spellings.
		{name: "placementCount and autoPlace disagree", run: docs(twoNodes, strings.Replace(replicatedClass, `{placementCount: "2"}`, `{placementCount: "2", autoPlace: "3"}`, 1)),
			wantErr: `StorageClass/replicated: parameters[placementCount]: Invalid value: "2": the same setting as parameter "autoPlace", which is "3"`},
		{name: "prefixed and unprefixed disagree", run: docs(twoNodes, strings.Replace(replicatedClass, `{placementCount: "2"}`, `{placementCount: "2", linstor.csi.linbit.com/placementCount: "1"}`, 1)),
			wantErr: `parameters[placementCount]: Invalid value: "2": the same setting as parameter "linstor.csi.linbit.com/placementCount", which is "1"`},
		{name: "two cases disagree", run: docs(twoNodes, strings.Replace(replicatedClass, `{placementCount: "2"}`, `{placementCount: "2", PlacementCount: "1"}`, 1)),
			wantErr: `parameters[placementCount]: Invalid value: "2": the same setting as parameter "PlacementCount", which is "1"`},
		{name: "a DRBD option and the same property disagree", run: docs(twoNodes, strings.Replace(replicatedClass, `{placementCount: "2"}`, `{DrbdOptions/Net/protocol: A, property.linstor.csi.linbit.com/DrbdOptions/Net/protocol: C}`, 1)),
			wantErr: `the same setting as parameter "DrbdOptions/Net/protocol", which is "A"`},
		{name: "two spellings that agree are fine", run: docs(twoNodes, strings.Replace(replicatedClass, `{placementCount: "2"}`, `{placementCount: "2", autoPlace: "2"}`, 1))},

		// Previous volumes and topology are validated like any input.
		{name: "previous port out of range", run: docs(twoNodes, replicatedClass, claimOf("replicated", "1Gi"), previousTopology(9000, 1000, 0, 1)),
			wantErr: `in4.yaml:14:46: StorageVolume/pvc-11111111-2222-4333-8444-555555555555: spec.replicas[0].port: Invalid value: 9000: expected a DRBD port from 7000 to 7999 (the StorageTopology's spec.allocation)`},
		{name: "previous minor out of range", run: docs(twoNodes, replicatedClass, claimOf("replicated", "1Gi"), previousTopology(7000, 2000000, 0, 1)),
			wantErr: `spec.replicas[0].minors[0]: Invalid value: 2000000: expected a DRBD minor from 1000 to 1048575`},
		{name: "previous node id out of range", run: docs(twoNodes, replicatedClass, claimOf("replicated", "1Gi"), previousTopology(7000, 1000, 0, 40)),
			wantErr: `spec.replicas[1].nodeId: Invalid value: 40: expected a DRBD node id from 0 to 31`},
		{name: "previous duplicate node ids", run: docs(twoNodes, replicatedClass, claimOf("replicated", "1Gi"), previousTopology(7000, 1000, 3, 3)),
			wantErr: `spec.replicas[1].nodeId: Duplicate value: "3 (node id of the replica on n1 too)`},
		{name: "previous allocation range upside down", run: docs(twoNodes, strings.Replace(previousTopology(7000, 1000, 0, 1), "portMin: 7000, portMax: 7999", "portMin: 7999, portMax: 7000", 1)),
			wantErr: `spec.allocation.portMax: Invalid value: 7000: expected at least the first DRBD port, 7999`},
		{name: "--previous is validated too, named by its file", run: withOptions(plan.BuildOptions{PreviousSource: "deploy/plan.yaml",
			PreviousVolumes: []storagev1alpha1.StorageVolume{{ObjectMeta: metav1.ObjectMeta{Name: "v"}, Spec: storagev1alpha1.StorageVolumeSpec{ResourceGroup: "rg",
				Replicas: []storagev1alpha1.Replica{{Node: "n1", NodeID: -1, Port: 70000}}}}},
		}, twoNodes),
			wantErr: "deploy/plan.yaml: StorageVolume/v: spec.replicas[0].port: Invalid value: 70000: expected a DRBD port from 7000 to 7999"},
		{name: "a valid previous allocation is kept as it is", run: func(t *testing.T) (string, string) {
			built, e, w := buildDocs(t, plan.BuildOptions{}, twoNodes, replicatedClass, claimOf("replicated", "1Gi"), previousTopology(7005, 1009, 7, 3))
			require.Empty(t, e)
			v := built.Model.Volumes[0]
			require.Equal(t, int32(7005), v.Spec.Replicas[0].Port)
			require.Equal(t, []int32{1009}, v.Spec.Replicas[1].Minors)
			require.Equal(t, int32(7), v.Spec.Replicas[0].NodeID)
			require.Equal(t, int32(3), v.Spec.Replicas[1].NodeID)
			return "", w
		}},

		// Things that match nothing.
		{name: "empty input", run: docs("# nothing here\n"),
			wantWarn: "in.yaml: the input holds no Kubernetes objects: the plan has no nodes, storage or volumes"},
		{name: "no nodes", run: docs(replicatedClass),
			wantWarn: "in.yaml: no Node in the input: the plan has no satellites"},
		{name: "a LinstorCluster that selects no node", run: docs(twoNodes, "apiVersion: piraeus.io/v1\nkind: LinstorCluster\nmetadata: {name: c}\nspec:\n  nodeSelector: {storage: yes}\n"),
			wantWarn: "in2.yaml:5:3: LinstorCluster/c: spec.nodeSelector: the LinstorCluster selects none of the 2 nodes"},
		{name: "a LinstorNodeConnection that selects no node", run: docs(twoNodes, `apiVersion: piraeus.io/v1
kind: LinstorNodeConnection
metadata: {name: cross-rack}
spec:
  selector:
  - matchLabels:
    - {key: rack, op: Exists}
`),
			wantWarn: "in2.yaml:5:3: LinstorNodeConnection/cross-rack: spec.selector: selects no pair of the 2 satellite nodes: it connects nothing"},
		{name: "a LinstorSatelliteConfiguration that selects no node", run: docs(twoNodes, "apiVersion: piraeus.io/v1\nkind: LinstorSatelliteConfiguration\nmetadata: {name: gpu}\nspec:\n  nodeSelector: {gpu: \"true\"}\n"),
			wantWarn: "in2.yaml:5:3: LinstorSatelliteConfiguration/gpu: spec.nodeSelector: selects none of the 2 satellite nodes: it configures nothing"},
		{name: "a StorageClass without provisioner", run: docs(twoNodes, "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: nothing}\n"),
			wantWarn: "in2.yaml:1:1: StorageClass/nothing: provisioner: no provisioner: no driver serves this class"},

		// Subfolders behind symbolic links.
		{name: "a subfolder behind a symbolic link is read", run: func(t *testing.T) (string, string) {
			dir, other := t.TempDir(), t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(other, "nodes.yaml"), []byte(twoNodes), 0o644))
			require.NoError(t, os.Symlink(other, filepath.Join(dir, "cluster")))
			srcs, warnings, err := plan.ReadSources(context.Background(), []string{dir}, nil)
			require.NoError(t, err)
			m, err := plan.Load(t.Context(), srcs, plan.LoadOptions{Schemas: testSchemas(t), Warnings: warnings})
			require.NoError(t, err)
			require.Len(t, m.Satellites, 2, "the nodes behind the link were not read")
			return "", m.Warnings.Error()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotErr, gotWarn := tt.run(t)
			if tt.wantErr == "" {
				require.Empty(t, gotErr)
			} else {
				require.Contains(t, gotErr, tt.wantErr)
			}
			if tt.wantWarn == "" {
				require.Empty(t, gotWarn)
			} else {
				require.Contains(t, gotWarn, tt.wantWarn)
			}
		})
	}
}

// nestedVolumes finds the Pod volumes of a workload object.
func nestedVolumes(obj map[string]any) []map[string]any {
	spec, _ := obj["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	pod, _ := tmpl["spec"].(map[string]any)
	vols, _ := pod["volumes"].([]any)
	var out []map[string]any
	for _, v := range vols {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
