package render

import (
	"strings"
	"testing"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/internal/golden"
)

func TestDiffGolden(t *testing.T) {
	old := mustRender(t, newModel(modelOpts{nodes: 3}), testOptions())
	m := newModel(modelOpts{nodeNames: []string{"node-0000", "node-0001", "node-0003"}})
	m.Topology.Spec.Nodes[1].StoragePools[0].Directory = "/var/lib/linstor-pools/moved"
	m.Cluster.Spec.CSIController = &piraeusv1.DeploymentComponentSpec{ComponentSpec: piraeusv1.ComponentSpec{Enabled: true}, Replicas: ptrInt32(2)}
	diffs, err := Diff(old, mustRender(t, m, testOptions()))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteDiffs(&b, diffs); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, golden.Path("diff.txt"), b.String())
	actions := map[string]string{}
	for _, d := range diffs {
		actions[d.ID] = d.Action
	}
	want := map[string]string{
		"apps/v1/Deployment/piraeus-datastore/linstor-csi-controller":     DiffChanged,
		"apps/v1/DaemonSet/piraeus-datastore/linstor-satellite-node-0001": DiffChanged,
		"apps/v1/DaemonSet/piraeus-datastore/linstor-satellite-node-0003": DiffAdded,
		"apps/v1/DaemonSet/piraeus-datastore/linstor-satellite-node-0002": DiffRemoved,
		"storage.piraeus.io/v1alpha1/StorageTopology/default":             DiffChanged,
	}
	for id, a := range want {
		if actions[id] != a {
			t.Errorf("%s: %q, want %q", id, actions[id], a)
		}
	}
	if len(actions) != len(want) {
		t.Errorf("diffs for %v", actions)
	}
	same, err := Diff(old, old)
	if err != nil || len(same) != 0 {
		t.Errorf("equal plans: %v, %d diffs", err, len(same))
	}
}

func TestUnifiedDiff(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"a\nb\nc\n", "a\nB\nc\n", "--- x\n+++ y\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"", "a\n", "--- x\n+++ y\n@@ -0,0 +1 @@\n+a\n"},
		{"a\n", "", "--- x\n+++ y\n@@ -1 +0,0 @@\n-a\n"},
		{"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n",
			"--- x\n+++ y\n@@ -1,5 +1,5 @@\n 1\n-2\n+X\n 3\n 4\n 5\n@@ -8,5 +8,5 @@\n 8\n 9\n 10\n-11\n+Y\n 12\n"},
		{"a", "b", "--- x\n+++ y\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"},
	}
	for _, tc := range cases {
		if got := unifiedDiff("x", "y", tc.a, tc.b); got != tc.want {
			t.Errorf("unifiedDiff(%q, %q):\n%s\nwant:\n%s", tc.a, tc.b, got, tc.want)
		}
	}
}

func ptrInt32(i int32) *int32 { return &i }
