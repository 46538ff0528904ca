package operator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piraeusctl/piraeusctl/pipeline"
)

// TestEvacuationCondition is the EvacuationCompleted condition of each
// step of testdata/node-evacuated: False while replicas move or wait for
// a slot, True once none is left; none for nodes that are not evacuated.
// A volume in use on the node: the message names the timeout and when it
// expires, then that the replica went diskless.
func TestEvacuationCondition(t *testing.T) {
	dir := "../testdata/node-evacuated/"
	since := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC) // in-use.yaml's
	tests := []struct {
		name, input, previous, node string
		want                        metav1.ConditionStatus
		reason                      string
		now                         time.Time
		says                        string
	}{
		{"replacements added", "input", "previous.yaml", "worker-3", metav1.ConditionFalse, "Evacuating", time.Time{}, ""},
		{"waiting for a sync", "input", "syncing.yaml", "worker-3", metav1.ConditionFalse, "Evacuating", time.Time{}, ""},
		{"nothing left", "input", "dropped.yaml", "worker-3", metav1.ConditionTrue, "Evacuated", time.Time{}, ""},
		{"waiting for a slot", "input-two", "previous.yaml", "worker-4", metav1.ConditionFalse, "WaitingForSlot", time.Time{}, ""},
		{"a node that stays", "input", "previous.yaml", "worker-1", "", "", time.Time{}, ""},
		{"in use, before the timeout", "input", "in-use.yaml", "worker-3", metav1.ConditionFalse, "Evacuating", since.Add(4 * time.Minute),
			"stays until the volume is detached there (move its Pod: drain the node); it becomes diskless at 2026-01-02T10:05:00Z (attachedVolumeReattachTimeout 5m)"},
		{"in use, timed out", "input", "in-use.yaml", "worker-3", metav1.ConditionFalse, "Evacuating", since.Add(5 * time.Minute),
			"the replica on worker-3 becomes diskless: the volume stays attached over the network until it is detached there (timed out after 5m waiting for its Pod to move)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := pipeline.Options{Files: []string{dir + tt.input, dir + tt.previous}}
			opts.Build.Now = tt.now
			res, err := pipeline.Run(t.Context(), opts)
			require.NoError(t, err)
			f := &facts{model: res.Built.Model}
			c, ok := f.evacuation(tt.node)
			if tt.want == "" {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			assert.Equal(t, ConditionEvacuationCompleted, c.Type)
			assert.Equal(t, tt.want, c.Status)
			assert.Equal(t, tt.reason, c.Reason)
			assert.NotEmpty(t, c.Message)
			assert.Contains(t, c.Message, tt.says)
			t.Log(c.Message)
			gone := f.satelliteAvailable(tt.node)
			assert.Equal(t, "NodeGone", gone.Reason, "the Node of %s was deleted", tt.node)
			assert.Equal(t, "NodeGone", f.satelliteApplied(tt.node).Reason)
		})
	}
}
