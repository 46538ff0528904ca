package planfile

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// fixturePlan is a plan piraeusctl rendered for three nodes (CRDs, RBAC,
// workloads, StorageClasses, the StorageTopology), kept as a test input of
// the repository's command goldens.
const fixturePlan = "../testdata/node-removed/previous.yaml"

func readFixture(t testing.TB) []*unstructured.Unstructured {
	t.Helper()
	objs, err := ReadPath(fixturePlan)
	require.NoError(t, err)
	require.Greater(t, len(objs), 40)
	return objs
}

func planYAML(t testing.TB, objs []*unstructured.Unstructured) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WriteYAML(&b, objs))
	return b.String()
}

// without returns objs without the object named id.
func without(objs []*unstructured.Unstructured, id string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if ObjectID(o) != id {
			out = append(out, o)
		}
	}
	return out
}

// fixtureNodes is the fixture plan with the satellites of its first n
// workers only (worker-1 ... worker-3).
func fixtureNodes(t testing.TB, n int) []*unstructured.Unstructured {
	t.Helper()
	objs := readFixture(t)
	for i := n + 1; i <= 3; i++ {
		objs = without(objs, fmt.Sprintf("apps/v1/DaemonSet/piraeus-datastore/linstor-satellite-worker-%d", i))
	}
	return objs
}

// relabelled copies objs with the app.kubernetes.io/version label set to v,
// as a new piraeusctl version changes every object.
func relabelled(objs []*unstructured.Unstructured, v string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
		labels := out[i].GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels["app.kubernetes.io/version"] = v
		out[i].SetLabels(labels)
	}
	return out
}
