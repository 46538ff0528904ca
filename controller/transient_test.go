package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

func TestTransientWait(t *testing.T) {
	created := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	waiting := metav1.Condition{Type: storagev1alpha1.ConditionPlaced, Status: metav1.ConditionFalse, Reason: reasonWaitingForPlacement}
	failed := metav1.Condition{Type: storagev1alpha1.ConditionPlaced, Status: metav1.ConditionFalse, Reason: reasonPlacementFailed}
	placed := metav1.Condition{Type: storagev1alpha1.ConditionPlaced, Status: metav1.ConditionTrue, Reason: reasonPlaced}
	for _, tc := range []struct {
		name    string
		cond    metav1.Condition
		written bool
		age     time.Duration
		want    time.Duration
	}{
		{"new and waiting: not written yet", waiting, false, 300 * time.Millisecond, 700 * time.Millisecond},
		{"waiting past the grace: written", waiting, false, 2 * time.Second, 0},
		{"a clock behind the server: at most the grace", waiting, false, -time.Hour, statusGrace},
		{"a status already written: kept current", waiting, true, 100 * time.Millisecond, 0},
		{"a failure: written at once", failed, false, 100 * time.Millisecond, 0},
		{"placed: written at once", placed, false, 100 * time.Millisecond, 0},
		{"no volume definitions yet", metav1.Condition{Status: metav1.ConditionFalse, Reason: reasonNoVolumeDefinitions}, false, 0, statusGrace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &storagev1alpha1.StorageVolume{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
			if tc.written {
				v.Status.Conditions = []metav1.Condition{waiting}
			}
			assert.Equal(t, tc.want, transientWait(v, tc.cond, created.Add(tc.age)))
		})
	}
}
