package templates

import (
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The embedded set is what render evaluates: one file per component.
func TestEmbeddedComponents(t *testing.T) {
	got, err := fs.Glob(FS(), "*.jsonnet")
	require.NoError(t, err)
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
	assert.Equal(t, want, got, "components %v, want %v", got, want)
	_, err = fs.ReadFile(FS(), "lib/k8s.libsonnet")
	assert.NoError(t, err, "shared library")
}
