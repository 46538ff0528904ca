package planfile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piraeusctl/piraeusctl/internal/objdiff"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

func TestDiff(t *testing.T) {
	old := readFixture(t)
	same, err := Diff(old, old)
	require.NoError(t, err)
	assert.Empty(t, same, "equal plans")

	changed := old[0].DeepCopy()
	changed.SetLabels(map[string]string{"moved": "yes"})
	added := testsupport.Object("v1", "ConfigMap", "piraeus-datastore", "extra")
	cur := append([]*unstructured.Unstructured{changed, added}, without(old[1:], worker3)...)
	diffs, err := Diff(old, cur)
	require.NoError(t, err)
	var got []string
	for _, d := range diffs {
		got = append(got, string(d.Action)+" "+d.ID)
	}
	assert.Equal(t, []string{
		"changed " + ObjectID(changed),
		"added v1/ConfigMap/piraeus-datastore/extra",
		"removed " + worker3,
	}, got, "changed and added in the new plan's order, then removed")
	assert.Contains(t, diffs[0].Unified, "--- old/"+ObjectID(changed)+"\n+++ new/"+ObjectID(changed)+"\n")
	assert.Contains(t, diffs[0].Unified, "+    moved: \"yes\"\n")
	assert.Equal(t, objdiff.Removed, diffs[2].Action)
}
