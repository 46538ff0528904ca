package planfile

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Topology returns the spec of the plan's StorageTopology object.
func Topology(objs []*unstructured.Unstructured) (*storagev1alpha1.StorageTopologySpec, error) {
	for _, o := range objs {
		if o.GetKind() != "StorageTopology" || o.GroupVersionKind().Group != storagev1alpha1.GroupVersion.Group {
			continue
		}
		var t storagev1alpha1.StorageTopology
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &t); err != nil {
			return nil, fmt.Errorf("decode StorageTopology %s: %w", o.GetName(), err)
		}
		return &t.Spec, nil
	}
	return nil, errors.New("no StorageTopology object in the plan")
}

// Volumes returns the plan's StorageVolume objects.
func Volumes(objs []*unstructured.Unstructured) ([]storagev1alpha1.StorageVolume, error) {
	var out []storagev1alpha1.StorageVolume
	for _, o := range objs {
		if o.GetKind() != "StorageVolume" || o.GroupVersionKind().Group != storagev1alpha1.GroupVersion.Group {
			continue
		}
		var v storagev1alpha1.StorageVolume
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &v); err != nil {
			return nil, fmt.Errorf("decode StorageVolume %s: %w", o.GetName(), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// ReadPrevious reads the StorageTopology and the StorageVolumes of the plan
// file or export folder at path: the previous plan whose placements and
// allocations a new plan keeps.
func ReadPrevious(path string) (*storagev1alpha1.StorageTopologySpec, []storagev1alpha1.StorageVolume, error) {
	objs, err := ReadPath(path)
	if err != nil {
		return nil, nil, err
	}
	topo, err := Topology(objs)
	if err != nil {
		return nil, nil, err
	}
	vols, err := Volumes(objs)
	if err != nil {
		return nil, nil, err
	}
	return topo, vols, nil
}
