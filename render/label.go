package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// standardLabels are the labels every object the plan owns carries.
func standardLabels(in *Input) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "piraeus-datastore",
		"app.kubernetes.io/instance":   in.Instance,
		"app.kubernetes.io/managed-by": "piraeusctl",
		"app.kubernetes.io/part-of":    "piraeus-datastore",
		"app.kubernetes.io/version":    in.Version,
	}
}

// labelObjects adds the standard labels to objects that do not set them.
// Labels an object already has win.
func labelObjects(objs []*unstructured.Unstructured, in *Input) {
	std := standardLabels(in)
	for _, o := range objs {
		labels := o.GetLabels()
		if labels == nil {
			labels = make(map[string]string, len(std))
		}
		for k, v := range std {
			if _, ok := labels[k]; !ok {
				labels[k] = v
			}
		}
		o.SetLabels(labels)
	}
}
