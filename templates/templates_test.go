package templates

import (
	"io/fs"
	"reflect"
	"testing"
)

// The embedded set is what render evaluates: one file per component.
func TestEmbeddedComponents(t *testing.T) {
	got, err := fs.Glob(FS(), "*.jsonnet")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ha-controller.jsonnet",
		"linstor-controller.jsonnet",
		"linstor-csi-controller.jsonnet",
		"linstor-csi-node.jsonnet",
		"linstor-satellite.jsonnet",
		"namespace.jsonnet",
		"piraeus-operator-gencert.jsonnet",
		"piraeus-operator.jsonnet",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("components %v, want %v", got, want)
	}
	if _, err := fs.ReadFile(FS(), "lib/k8s.libsonnet"); err != nil {
		t.Errorf("shared library: %v", err)
	}
}
