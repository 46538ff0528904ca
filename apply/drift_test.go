package apply

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/piraeusctl/piraeusctl/internal/objdiff"
)

var deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

func TestDriftShownByDiffAndCorrectedByApply(t *testing.T) {
	cfg := kube.Config(t)
	_, objs, opts := testCase(t, "drift")
	_, err := Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)

	diff, err := Diff(t.Context(), cfg, objs, DiffOptions{Namespace: opts.Namespace})
	require.NoError(t, err)
	require.False(t, objdiff.AnyChange(diff), "fresh apply must show no drift:\n%s", diffText(diff))

	// Someone else edits the Deployment (an Update, as kubectl edit does).
	dyn := dynamic.NewForConfigOrDie(cfg)
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"replicas": 3}})
	_, err = dyn.Resource(deploymentsGVR).Namespace(opts.Namespace).Patch(t.Context(), "controller",
		types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)

	diff, err = Diff(t.Context(), cfg, objs, DiffOptions{Namespace: opts.Namespace})
	require.NoError(t, err)
	require.True(t, objdiff.AnyChange(diff))
	text := diffText(diff)
	assert.Contains(t, text, "--- live/Deployment/"+opts.Namespace+"/controller")
	assert.Contains(t, text, "-  replicas: 3\n+  replicas: 1\n")
	assert.EqualValues(t, 1, strings.Count(text, "--- live/"), "only the Deployment drifted:\n%s", text)

	// Without --force-conflicts the conflict is reported by object and field.
	res, err := Run(t.Context(), cfg, objs, opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Deployment/"+opts.Namespace+"/controller: conflict")
	assert.Contains(t, err.Error(), `.spec.replicas (owned by "kubectl-edit")`)
	assert.Equal(t, Failed, actions(res)["Deployment/controller"])

	opts.ForceConflicts = true
	res, err = Run(t.Context(), cfg, objs, opts)
	require.NoError(t, err)
	assert.Equal(t, Configured, actions(res)["Deployment/controller"])
	assert.Equal(t, len(objs)-1, res.Summary[Unchanged], res.SummaryLine())

	diff, err = Diff(t.Context(), cfg, objs, DiffOptions{Namespace: opts.Namespace})
	require.NoError(t, err)
	assert.False(t, objdiff.AnyChange(diff), "drift corrected:\n%s", diffText(diff))
}

func TestDiffShowsAbsentObjectsAsAdded(t *testing.T) {
	cfg := kube.Config(t)
	id := testID("absent")
	objs := testObjects(t, id)
	diff, err := Diff(t.Context(), cfg, objs, DiffOptions{Namespace: "apply-" + id})
	require.NoError(t, err)
	require.Len(t, diff, len(objs))
	for _, d := range diff {
		assert.Equal(t, objdiff.Added, d.Action, d.ID)
		assert.Contains(t, d.Unified, "--- /dev/null\n+++ planned/"+d.ID)
		assert.NotContains(t, d.Unified, "\n-", "nothing removed from an absent object")
	}
}

func diffText(d []objdiff.ObjectDiff) string {
	var b strings.Builder
	_ = objdiff.Write(&b, d)
	return b.String()
}
