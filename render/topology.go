package render

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	storagev1alpha1 "github.com/piraeusctl/piraeusctl/api/storage/v1alpha1"
)

// Topology returns the spec of the plan's StorageTopology object.
func Topology(p *Plan) (*storagev1alpha1.StorageTopologySpec, error) {
	for _, o := range p.Objects {
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
func Volumes(p *Plan) ([]storagev1alpha1.StorageVolume, error) {
	var out []storagev1alpha1.StorageVolume
	for _, o := range p.Objects {
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
