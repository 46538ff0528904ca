package operator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// evacuateAPIVolumes takes this plan's evacuation steps on the volumes
// made through the LINSTOR API (spec.manualPlacement), which the plan does
// not render: the API owns their replicas. For each such volume with a
// step, the replicas the plan added, dropped or changed relative to the
// state it read are written into the live object with an Update guarded by
// its resourceVersion, as the API writes them, so a replica the API changed
// meanwhile is kept and a concurrent write makes the next pass try again.
// It returns the number of writes.
func (l *Loop) evacuateAPIVolumes(ctx context.Context, m *plan.Model) (int, error) {
	if len(m.Leaving) == 0 {
		return 0, nil
	}
	stepping := map[string]bool{}
	for _, lv := range m.Leaving {
		for _, s := range lv.Steps {
			stepping[s.Volume] = true
		}
	}
	previous := map[string]*storagev1alpha1.StorageVolume{}
	for i := range m.PreviousVolumes {
		previous[m.PreviousVolumes[i].Name] = &m.PreviousVolumes[i]
	}
	writes := 0
	var errs []error
	for i := range m.Volumes {
		v := &m.Volumes[i]
		prev := previous[v.Name]
		if !v.Spec.ManualPlacement || !stepping[v.Name] || prev == nil || equality.Semantic.DeepEqual(prev.Spec.Replicas, v.Spec.Replicas) {
			continue
		}
		wrote, err := l.stepAPIVolume(ctx, prev, v)
		if err != nil {
			errs = append(errs, err)
		}
		if wrote {
			writes++
		}
	}
	return writes, errors.Join(errs...)
}

// stepAPIVolume writes one volume's step into its live object.
func (l *Loop) stepAPIVolume(ctx context.Context, prev, planned *storagev1alpha1.StorageVolume) (bool, error) {
	u, err := l.dyn.Resource(gvrVolumes).Get(ctx, planned.Name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("read StorageVolume %s: %w", planned.Name, err)
	}
	live := &storagev1alpha1.StorageVolume{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, live); err != nil {
		return false, fmt.Errorf("read StorageVolume %s: %w", planned.Name, err)
	}
	if live.UID != prev.UID || live.DeletionTimestamp != nil {
		return false, nil
	}
	replicas := mergeStep(prev.Spec.Replicas, planned.Spec.Replicas, live.Spec.Replicas)
	if equality.Semantic.DeepEqual(replicas, live.Spec.Replicas) {
		return false, nil
	}
	live.Spec.Replicas = replicas
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
	if err != nil {
		return false, err
	}
	u.Object = obj
	if _, err := l.dyn.Resource(gvrVolumes).Update(ctx, u, metav1.UpdateOptions{FieldManager: l.opts.FieldManager}); err != nil {
		return false, fmt.Errorf("evacuation step of StorageVolume %s: %w", planned.Name, err)
	}
	l.log.Info("evacuation step written", "volume", planned.Name)
	return true, nil
}

// mergeStep applies to live the replica changes from prev to planned: a
// node planned and not previous is added, a node previous and not planned
// is removed, a node in both whose replica the plan changed (a disk
// dropped) takes the planned replica. Replicas the plan did not touch stay
// as live has them.
func mergeStep(prev, planned, live []storagev1alpha1.Replica) []storagev1alpha1.Replica {
	find := func(list []storagev1alpha1.Replica, node string) *storagev1alpha1.Replica {
		i := slices.IndexFunc(list, func(r storagev1alpha1.Replica) bool { return r.Node == node })
		if i < 0 {
			return nil
		}
		return &list[i]
	}
	out := slices.Clone(live)
	for _, p := range prev {
		if find(planned, p.Node) == nil {
			out = slices.DeleteFunc(out, func(r storagev1alpha1.Replica) bool { return r.Node == p.Node })
		}
	}
	for _, r := range planned {
		before, cur := find(prev, r.Node), find(out, r.Node)
		switch {
		case before == nil && cur == nil:
			out = append(out, r)
		case before != nil && cur != nil && !equality.Semantic.DeepEqual(*before, r):
			*cur = r
		}
	}
	slices.SortFunc(out, func(a, b storagev1alpha1.Replica) int { return strings.Compare(a.Node, b.Node) })
	return out
}
