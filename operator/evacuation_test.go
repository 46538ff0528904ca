package operator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piraeusctl/piraeusctl/pipeline"
)

// TestEvacuationCondition is the EvacuationCompleted condition of each
// step of testdata/node-evacuated: False while replicas move or wait for
// a slot, True once none is left; none for nodes that are not evacuated.
func TestEvacuationCondition(t *testing.T) {
	dir := "../testdata/node-evacuated/"
	tests := []struct {
		name, input, previous, node string
		want                        metav1.ConditionStatus
		reason                      string
	}{
		{"replacements added", "input", "previous.yaml", "worker-3", metav1.ConditionFalse, "Evacuating"},
		{"waiting for a sync", "input", "syncing.yaml", "worker-3", metav1.ConditionFalse, "Evacuating"},
		{"nothing left", "input", "dropped.yaml", "worker-3", metav1.ConditionTrue, "Evacuated"},
		{"waiting for a slot", "input-two", "previous.yaml", "worker-4", metav1.ConditionFalse, "WaitingForSlot"},
		{"a node that stays", "input", "previous.yaml", "worker-1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := pipeline.Run(t.Context(), pipeline.Options{Files: []string{dir + tt.input, dir + tt.previous}})
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
			t.Log(c.Message)
			gone := f.satelliteAvailable(tt.node)
			assert.Equal(t, "NodeGone", gone.Reason, "the Node of %s was deleted", tt.node)
			assert.Equal(t, "NodeGone", f.satelliteApplied(tt.node).Reason)
		})
	}
}
