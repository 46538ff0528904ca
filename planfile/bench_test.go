package planfile

import (
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// BenchmarkWriteYAML is the encoder alone on a plan of 1000 satellites
// (the fixture's satellite DaemonSet, once per node).
func BenchmarkWriteYAML(b *testing.B) {
	fixture := readFixture(b)
	var sat *unstructured.Unstructured
	for _, o := range fixture {
		if o.GetKind() == "DaemonSet" && o.GetLabels()["app.kubernetes.io/component"] == "linstor-satellite" {
			sat = o
			break
		}
	}
	objs := append([]*unstructured.Unstructured(nil), fixture...)
	for i := range 1000 {
		o := sat.DeepCopy()
		o.SetName(fmt.Sprintf("linstor-satellite-node-%04d", i))
		objs = append(objs, o)
	}
	b.ReportAllocs()
	for b.Loop() {
		require.NoError(b, WriteYAML(io.Discard, objs))
	}
}
