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

// ReadTopology reads the StorageTopology of the plan file or export folder
// at path: the previous plan whose placements and allocations a new plan
// keeps.
func ReadTopology(path string) (*storagev1alpha1.StorageTopologySpec, error) {
	objs, err := ReadPath(path)
	if err != nil {
		return nil, err
	}
	return Topology(objs)
}
