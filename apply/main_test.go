package apply

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

// kube is the API server the integration tests of this package share.
var kube kubetest.Env

func TestMain(m *testing.M) { os.Exit(kube.Main(m)) }

var testSeq atomic.Int64

// testID returns a short id unique in this test binary, usable in names.
func testID(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, testSeq.Add(1))
}

// testObjects decodes testdata/manifests.yaml with "TEST" replaced by id. The
// namespace of its objects is "apply-<id>".
func testObjects(t testing.TB, id string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile("testdata/manifests.yaml")
	require.NoError(t, err)
	objs, err := DecodeManifests([]byte(strings.ReplaceAll(string(data), "TEST", id)))
	require.NoError(t, err)
	return objs
}

// testCase gives a test a fresh id, the test objects of it and the options
// of a run against them.
func testCase(t testing.TB, prefix string) (string, []*unstructured.Unstructured, Options) {
	t.Helper()
	id := testID(prefix)
	return id, testObjects(t, id), testOptions(id)
}

// testOptions are the options of a run against the objects of id.
func testOptions(id string) Options {
	o := DefaultOptions()
	o.Namespace = "apply-" + id
	return o
}

// find returns the object of kind and name.
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	require.FailNow(t, "no such test object", "%s/%s", kind, name)
	return nil
}

// without returns objs without the object of kind and name.
func without(objs []*unstructured.Unstructured, kind, name string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != kind || o.GetName() != name {
			out = append(out, o)
		}
	}
	return out
}

// actions maps "Kind/name" to the action of each change.
func actions(r *Result) map[string]Action {
	out := map[string]Action{}
	for _, c := range r.Changes {
		out[c.Object.Kind+"/"+c.Object.Name] = c.Action
	}
	return out
}

// countActions counts the changes with action a.
func countActions(r *Result, a Action) int {
	n := 0
	for _, c := range r.Changes {
		if c.Action == a {
			n++
		}
	}
	return n
}
