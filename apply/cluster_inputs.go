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

// ClusterKind is one kind to read back from a cluster.
type ClusterKind struct {
	schema.GroupVersionKind
	// Optional kinds may be missing from the cluster (their CRD not installed).
	Optional bool
}

// ReadClusterInputs reads every object of the kinds, in order (namespaced
// kinds from namespace, or from all namespaces when it is empty; optional
// kinds the cluster does not serve are left out), as `plan --from-cluster`
// reads its inputs. It returns one multi-document YAML source per kind,
// named "cluster/<kind>.yaml", with objects sorted by namespace and name and
// stripped of managedFields and the last-applied annotation as `kubectl get
// -o yaml` shows them (plus Node image lists, which nothing here reads).
func ReadClusterInputs(ctx context.Context, cfg *rest.Config, kinds []ClusterKind, namespace string) ([]Source, error) {
	c, err := newCluster(cfg)
	if err != nil {
		return nil, err
	}
	var out []Source
	for _, in := range kinds {
		items, err := listInput(ctx, c, in, namespace)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			continue
		}
		data, err := yamlDocuments(items)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", in.Kind, err)
		}
		out = append(out, Source{Name: "cluster/" + in.Kind + ".yaml", Data: data})
	}
	return out, nil
}

func listInput(ctx context.Context, c *cluster, in ClusterKind, namespace string) ([]unstructured.Unstructured, error) {
	mapping, err := c.mapper.RESTMapping(in.GroupKind(), in.Version)
	if in.Optional && meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster inputs: map %s: %w", in.GroupVersionKind, err)
	}
	ri := c.dyn.Resource(mapping.Resource)
	var list *unstructured.UnstructuredList
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace && namespace != "" {
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
		items[i].SetGroupVersionKind(in.GroupVersionKind)
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
