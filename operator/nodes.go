package operator

import (
	"context"
	"encoding/json"
	"fmt"

	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piraeusctl/piraeusctl/plan"
)

// dropLeftNodes removes from the live StorageTopology the nodes the plan
// no longer has (an evacuated node, a Retain node that holds nothing, a
// Delete or forced one). Server-side apply leaves a list entry that
// another field manager also owns (`piraeusctl apply`, Argo CD applying an
// older export), so the loop removes such an entry itself, guarded by its
// name; the webhook still refuses a removal that would strand data. It
// returns the number of writes.
func (l *Loop) dropLeftNodes(ctx context.Context, m *plan.Model) (int, error) {
	live, err := l.dyn.Resource(gvrTopologies).Get(ctx, m.Topology.Name, metav1.GetOptions{})
	if kerrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read StorageTopology: %w", err)
	}
	planned := map[string]bool{}
	for _, n := range m.Topology.Spec.Nodes {
		planned[n.Name] = true
	}
	nodes, _, _ := unstructured.NestedSlice(live.Object, "spec", "nodes")
	var ops []map[string]any
	var names []string
	for i := len(nodes) - 1; i >= 0; i-- { // from the end, so indices hold
		n, _ := nodes[i].(map[string]any)
		name, _ := n["name"].(string)
		if name == "" || planned[name] {
			continue
		}
		path := fmt.Sprintf("/spec/nodes/%d", i)
		ops = append(ops, map[string]any{"op": "test", "path": path + "/name", "value": name}, map[string]any{"op": "remove", "path": path})
		names = append(names, name)
	}
	if len(ops) == 0 {
		return 0, nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return 0, err
	}
	_, err = l.dyn.Resource(gvrTopologies).Patch(ctx, live.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: l.opts.FieldManager})
	if err != nil {
		return 0, fmt.Errorf("remove nodes %v from StorageTopology %s: %w", names, live.GetName(), err)
	}
	l.log.Info("nodes left the StorageTopology", "nodes", names)
	return 1, nil
}
