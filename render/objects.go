package render

import (
	"encoding/json"
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/piraeusctl/piraeusctl/api/crds"
	"github.com/piraeusctl/piraeusctl/plan"
)

// dataObjectSet holds the objects that come from data rather than templates.
type dataObjectSet struct {
	// owned: the StorageTopology and the StorageVolumes, labelled like
	// every rendered object.
	owned []*unstructured.Unstructured
	// given: the CRDs as api/crds ships them, StorageClasses,
	// VolumeSnapshotClasses and passthrough objects as the user wrote them
	// (server-set fields removed).
	given []*unstructured.Unstructured
}

// dataObjects returns the CRDs, the StorageClasses, the VolumeSnapshotClasses,
// the passthrough objects, the StorageTopology and one StorageVolume per volume.
func dataObjects(m *plan.Model) (*dataObjectSet, error) {
	set := &dataObjectSet{}
	all, err := crds.All()
	if err != nil {
		return nil, err
	}
	for i := range all {
		all[i].APIVersion, all[i].Kind = "apiextensions.k8s.io/v1", "CustomResourceDefinition"
		u, err := toUnstructured(&all[i])
		if err != nil {
			return nil, fmt.Errorf("CRD %s: %w", all[i].Name, err)
		}
		set.given = append(set.given, u)
	}
	topo, err := topologyObject(m)
	if err != nil {
		return nil, err
	}
	set.owned = append(set.owned, topo)
	for i := range m.Volumes {
		if m.Volumes[i].Spec.ManualPlacement {
			// Made through the LINSTOR API (package linstorapi), which
			// changes its replicas: the plan leaves the object to it, so a
			// pass of the operator's loop working from a stale read never
			// puts back a replica the API removed. (Storage state is never
			// pruned, so leaving it out deletes nothing.)
			continue
		}
		u, err := toUnstructured(&m.Volumes[i])
		if err != nil {
			return nil, fmt.Errorf("StorageVolume %s: %w", m.Volumes[i].Name, err)
		}
		set.owned = append(set.owned, u)
	}
	for i := range m.StorageClasses {
		sc := m.StorageClasses[i]
		sc.APIVersion, sc.Kind = "storage.k8s.io/v1", "StorageClass"
		u, err := toUnstructured(&sc)
		if err != nil {
			return nil, fmt.Errorf("StorageClass %s: %w", sc.Name, err)
		}
		set.given = append(set.given, u)
	}
	for i := range m.VolumeSnapshotClasses {
		c := m.VolumeSnapshotClasses[i]
		c.APIVersion, c.Kind = "snapshot.storage.k8s.io/v1", "VolumeSnapshotClass"
		u, err := toUnstructured(&c)
		if err != nil {
			return nil, fmt.Errorf("VolumeSnapshotClass %s: %w", c.Name, err)
		}
		set.given = append(set.given, u)
	}
	for i, p := range m.Passthrough {
		obj, ok := normalizeJSON(runtime.DeepCopyJSONValue(p)).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("passthrough object %d: not an object", i)
		}
		u := &unstructured.Unstructured{Object: obj}
		stripServerFields(u)
		set.given = append(set.given, u)
	}
	return set, nil
}

// topologyObject is the StorageTopology named default, spec from the model.
func topologyObject(m *plan.Model) (*unstructured.Unstructured, error) {
	spec, err := toMap(m.Topology.Spec)
	if err != nil {
		return nil, fmt.Errorf("StorageTopology: %w", err)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "storage.piraeus.io/v1alpha1",
		"kind":       "StorageTopology",
		"metadata":   map[string]any{"name": plan.TopologyName},
		"spec":       spec,
	}}, nil
}

// toUnstructured converts a typed object, dropping status and server-set metadata.
func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := toMap(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	stripServerFields(u)
	return u, nil
}

func toMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return m, nil
}

// stripServerFields removes what the API server owns: status and
// server-set metadata, which have no place in a desired state.
func stripServerFields(u *unstructured.Unstructured) {
	delete(u.Object, "status")
	md, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		return
	}
	for _, f := range []string{"creationTimestamp", "uid", "resourceVersion", "generation", "managedFields", "selfLink"} {
		delete(md, f)
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
		if len(ann) == 0 {
			delete(md, "annotations")
		}
	}
}

// normalizeJSON makes a decoded JSON value fit unstructured: integral
// numbers become int64 (as Kubernetes' own JSON decoding does).
func normalizeJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeJSON(e)
		}
	case []any:
		for i, e := range t {
			t[i] = normalizeJSON(e)
		}
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return int64(t)
		}
	case int:
		return int64(t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
	}
	return v
}
