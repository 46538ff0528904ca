package planfile

import (
	"bytes"
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
