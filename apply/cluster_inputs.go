package apply

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// Source is one named YAML input, as the plan loader takes its files.
type Source struct {
	Name string
	Data []byte
}

// clusterInput is one kind `plan --from-cluster` reads.
type clusterInput struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	optional   bool // its CRD may be missing
}

var clusterInputs = []clusterInput{
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "Node"}},
	{gvk: schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolume"}},
	{gvk: schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}, namespaced: true},
	{gvk: schema.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorCluster"}, optional: true},
	{gvk: schema.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorSatelliteConfiguration"}, optional: true},
	{gvk: schema.GroupVersionKind{Group: "piraeus.io", Version: "v1", Kind: "LinstorNodeConnection"}, optional: true},
	// The storage state: the previous topology's settings and every volume
	// with its placement and allocations, which the next plan keeps.
	{gvk: schema.GroupVersionKind{Group: "storage.piraeus.io", Version: "v1alpha1", Kind: "StorageTopology"}, optional: true},
	{gvk: schema.GroupVersionKind{Group: "storage.piraeus.io", Version: "v1alpha1", Kind: "StorageVolume"}, optional: true},
}

// ReadClusterInputs reads the inputs of `plan --from-cluster`: Nodes,
// StorageClasses, PersistentVolumes, PersistentVolumeClaims (of namespace, or
// of all namespaces when it is empty) and the piraeus.io/v1 objects when their
// CRDs exist. It returns one multi-document YAML source per kind, named
// "cluster/<kind>.yaml", with objects sorted by namespace and name and
// stripped of managedFields and the last-applied annotation as `kubectl get
// -o yaml` shows them (plus Node image lists, which no plan reads).
func ReadClusterInputs(ctx context.Context, cfg *rest.Config, namespace string) ([]Source, error) {
	c, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	var out []Source
	for _, in := range clusterInputs {
		items, err := listInput(ctx, c, in, namespace)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			continue
		}
		data, err := yamlDocuments(items)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", in.gvk.Kind, err)
		}
		out = append(out, Source{Name: "cluster/" + in.gvk.Kind + ".yaml", Data: data})
	}
	return out, nil
}

func listInput(ctx context.Context, c *cluster, in clusterInput, namespace string) ([]unstructured.Unstructured, error) {
	mapping, err := c.mapper.RESTMapping(in.gvk.GroupKind(), in.gvk.Version)
	if in.optional && meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster inputs: map %s: %w", in.gvk, err)
	}
	ri := c.dyn.Resource(mapping.Resource)
	var list *unstructured.UnstructuredList
	if in.namespaced && namespace != "" {
		list, err = ri.Namespace(namespace).List(ctx, metav1.ListOptions{})
	} else {
		list, err = ri.List(ctx, metav1.ListOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster inputs: list %s: %w", mapping.Resource.Resource, err)
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool {
		if items[i].GetNamespace() != items[j].GetNamespace() {
			return items[i].GetNamespace() < items[j].GetNamespace()
		}
		return items[i].GetName() < items[j].GetName()
	})
	for i := range items {
		items[i].SetGroupVersionKind(in.gvk)
		stripNoise(&items[i])
	}
	return items, nil
}

// stripNoise removes what `kubectl get -o yaml` hides and no plan reads.
func stripNoise(o *unstructured.Unstructured) {
	o.SetManagedFields(nil)
	if ann := o.GetAnnotations(); ann != nil {
		delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
		if len(ann) == 0 {
			ann = nil
		}
		o.SetAnnotations(ann)
	}
	if o.GetKind() == "Node" {
		unstructured.RemoveNestedField(o.Object, "status", "images")
	}
}

func yamlDocuments(items []unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	for i := range items {
		data, err := yaml.Marshal(items[i].Object)
		if err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		buf.Write(data)
	}
	return buf.Bytes(), nil
}
