package plan

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// LoadOptions configure Load.
type LoadOptions struct {
	// Namespace for the datastore's namespaced objects (default piraeus-datastore).
	Namespace string
	// PassthroughKinds are other kinds ("Kind" or "Kind.group") copied into
	// the plan unchanged instead of being rejected.
	PassthroughKinds []string
	// PassthroughAll copies every unknown kind into the plan.
	PassthroughAll bool
	// Schemas are the compiled CRD validators; built on demand when nil.
	Schemas *Schemas
	// Warnings found before loading (ReadSources' skipped files); Load
	// passes them on in Model.Warnings with its own.
	Warnings ErrorList
}

// Load parses, validates and models the sources. Invalid input returns an
// ErrorList holding every problem found, each with file, line and field.
func Load(ctx context.Context, sources []Source, opts LoadOptions) (*Model, error) {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if msgs := validation.ValidateNamespaceName(opts.Namespace, false); len(msgs) > 0 {
		return nil, fmt.Errorf("namespace %q for the datastore: %s", opts.Namespace, strings.Join(msgs, "; "))
	}
	if opts.Schemas == nil {
		s, err := NewSchemas()
		if err != nil {
			return nil, err
		}
		opts.Schemas = s
	}
	in, errs := decodeSources(ctx, sources, &opts)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in.sortInputs()
	in.warnings = append(in.warnings, emptyInputWarning(sources, in)...)
	errs = append(errs, validateInputs(in)...)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	m, errs := buildModel(in, opts.Namespace)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	m.Warnings = append(append(m.Warnings, opts.Warnings...), in.warnings...).sorted()
	return m, nil
}

// decodeSources parses every document and decodes it by kind.
func decodeSources(ctx context.Context, sources []Source, opts *LoadOptions) (*inputs, ErrorList) {
	in := &inputs{}
	var errs ErrorList
	seen := map[objectKey]*document{}
	for _, src := range sources {
		if ctx.Err() != nil {
			return in, errs
		}
		docs, perrs := parseDocuments(src)
		errs = append(errs, perrs...)
		for _, d := range docs {
			errs = append(errs, in.addDocument(d, opts, seen)...)
		}
	}
	return in, errs
}

// addDocument decodes one document, expanding List and *List kinds.
func (in *inputs) addDocument(d *document, opts *LoadOptions, seen map[objectKey]*document) ErrorList {
	apiVersion, _ := d.obj["apiVersion"].(string)
	kind, _ := d.obj["kind"].(string)
	if kind == "" || apiVersion == "" {
		return ErrorList{d.errorAt(missingTypeField(d.obj), "", "expected apiVersion and kind (every document must be a Kubernetes object)")}
	}
	if apiVersion == "v1" && (kind == "List" || strings.HasSuffix(kind, "List")) {
		return in.addListItems(d, kind, opts, seen)
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return ErrorList{d.errorAt("apiVersion", kind, "invalid apiVersion: "+err.Error())}
	}
	gvk := gv.WithKind(kind)
	object := objectName(kind, d.obj)
	if errs := checkMetadata(d, object, gvk); len(errs) > 0 {
		return errs
	}
	if prev, dup := seen[keyOf(gvk.GroupKind(), d.obj)]; dup {
		return ErrorList{d.errorAt("metadata.name", object, "defined twice; first definition at "+prev.at.String())}
	}
	seen[keyOf(gvk.GroupKind(), d.obj)] = d
	return in.addObject(d, gvk, object, opts)
}

// describeValue names a decoded YAML value for an error message.
func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case []any:
		return "a list"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", v)
}

// boolWords returns the object-relative paths of unquoted YAML 1.1 boolean words.
func (d *document) boolWords() map[string]bool {
	if d.prefix == "" {
		return d.index.boolWords
	}
	out := map[string]bool{}
	for p, v := range d.index.boolWords {
		if rest, ok := strings.CutPrefix(p, d.prefix); ok {
			out[rest] = v
		}
	}
	return out
}

// lastElement returns the last name of a field path.
func lastElement(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return strings.TrimSuffix(p[i+1:], "]")
	}
	return p
}

func missingTypeField(obj map[string]any) string {
	if _, ok := obj["apiVersion"].(string); !ok {
		return "apiVersion"
	}
	return "kind"
}

// addListItems adds the items of a List (as kubectl get -o yaml prints them).
func (in *inputs) addListItems(d *document, kind string, opts *LoadOptions, seen map[objectKey]*document) ErrorList {
	items, ok := d.obj["items"].([]any)
	if !ok && d.obj["items"] != nil {
		return ErrorList{d.errorAt("items", kind, "expected a list of objects")}
	}
	itemKind := strings.TrimSuffix(kind, "List")
	var errs ErrorList
	for i, it := range items {
		prefix := d.prefix + "items[" + strconv.Itoa(i) + "]"
		obj, ok := it.(map[string]any)
		if !ok {
			errs = append(errs, d.errorAt("items["+strconv.Itoa(i)+"]", kind, fmt.Sprintf("expected an object, found %s", describeValue(it))))
			continue
		}
		if _, set := obj["kind"]; !set && itemKind != "" {
			obj["kind"] = itemKind
		}
		if _, set := obj["apiVersion"]; !set {
			obj["apiVersion"] = d.obj["apiVersion"]
		}
		item := &document{source: d.source, prefix: prefix + ".", obj: obj, index: d.index, at: d.index.byPath[prefix]}
		errs = append(errs, in.addDocument(item, opts, seen)...)
	}
	return errs
}

func objectName(kind string, obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if name == "" {
		name = "<unnamed>"
	}
	if ns, _ := md["namespace"].(string); ns != "" {
		return kind + "/" + ns + "/" + name
	}
	return kind + "/" + name
}

func keyOf(gk schema.GroupKind, obj map[string]any) objectKey {
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	ns, _ := md["namespace"].(string)
	return objectKey{gk: gk, namespace: ns, name: name}
}

// checkMetadata requires a valid metadata.name on every object, and valid
// names and namespaces on the kinds the plan reads (passed-through objects
// are the API server's to judge).
func checkMetadata(d *document, object string, gvk schema.GroupVersionKind) ErrorList {
	md, ok := d.obj["metadata"].(map[string]any)
	if !ok {
		return ErrorList{d.errorAt("metadata", object, "expected metadata with a name")}
	}
	name, ok := md["name"].(string)
	if !ok || name == "" {
		return ErrorList{d.errorAt("metadata.name", object, "required: every object needs a name")}
	}
	if !readKind(gvk) {
		return nil
	}
	var errs ErrorList
	if msgs := validation.NameIsDNSSubdomain(name, false); len(msgs) > 0 {
		errs = append(errs, d.errorAt("metadata.name", object, fmt.Sprintf("invalid name %q: %s", name, strings.Join(msgs, "; "))))
	}
	if ns, ok := md["namespace"].(string); ok && ns != "" {
		if msgs := validation.ValidateNamespaceName(ns, false); len(msgs) > 0 {
			errs = append(errs, d.errorAt("metadata.namespace", object, fmt.Sprintf("invalid namespace %q: %s", ns, strings.Join(msgs, "; "))))
		}
	}
	return errs
}

// readKind reports whether the plan reads objects of this kind (rather
// than passing them through).
func readKind(gvk schema.GroupVersionKind) bool {
	return gvk.Group == "piraeus.io" || gvk.Group == "storage.piraeus.io" || builtinVersion(gvk.GroupKind()) != ""
}

// addObject validates and decodes one object of a known or passed-through kind.
func (in *inputs) addObject(d *document, gvk schema.GroupVersionKind, object string, opts *LoadOptions) ErrorList {
	if s := opts.Schemas.lookup(gvk); s != nil {
		unknown, ferrs := s.check(d.obj, d.boolWords())
		errs := d.fieldErrors(ferrs, object)
		for _, p := range unknown {
			errs = append(errs, d.errorAt(p, object, fmt.Sprintf("unknown field %q: the %s schema has no such field (check spelling and indentation)", lastElement(p), gvk.Kind)))
		}
		// Decode even when the schema found problems, so that the semantic
		// checks run too and every error is reported at once; the schema has
		// already said what is wrong with the types, so decode errors add nothing.
		decodeErrs := in.addCustom(d, gvk.GroupKind(), object)
		if len(errs) > 0 {
			return errs
		}
		return decodeErrs
	}
	if v := builtinVersion(gvk.GroupKind()); v != "" {
		if gvk.Version != v {
			return ErrorList{d.errorAt("apiVersion", object, fmt.Sprintf("expected apiVersion %s, found %s", schema.GroupVersion{Group: gvk.Group, Version: v}, gvk.GroupVersion()))}
		}
		return in.addBuiltin(d, gvk.GroupKind(), object)
	}
	if opts.passthrough(gvk.GroupKind()) {
		in.passthrough = append(in.passthrough, d)
		return nil
	}
	field := "kind"
	if gvk.Group == "piraeus.io" || gvk.Group == "storage.piraeus.io" {
		field = "apiVersion"
	}
	return ErrorList{d.errorAt(field, object, unsupportedKindMessage(gvk))}
}

func unsupportedKindMessage(gvk schema.GroupVersionKind) string {
	if gvk.Group == "piraeus.io" || gvk.Group == "storage.piraeus.io" {
		return fmt.Sprintf("unsupported version %s of kind %s; expected piraeus.io/v1 (LinstorCluster, LinstorSatelliteConfiguration, LinstorNodeConnection) or storage.piraeus.io/v1alpha1 (StorageTopology, StorageVolume, NodeAllocation)", gvk.GroupVersion(), gvk.Kind)
	}
	return fmt.Sprintf("unsupported kind %s (%s); expected LinstorCluster, LinstorSatelliteConfiguration, LinstorNodeConnection, Node, StorageClass, VolumeSnapshotClass, PersistentVolumeClaim, PersistentVolume or Pod; use --passthrough-kind %s to copy it into the plan unchanged", gvk.Kind, gvk.GroupVersion(), passthroughName(gvk.GroupKind()))
}

func passthroughName(gk schema.GroupKind) string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}

func (o *LoadOptions) passthrough(gk schema.GroupKind) bool {
	if o.PassthroughAll {
		return true
	}
	for _, k := range o.PassthroughKinds {
		if strings.EqualFold(k, passthroughName(gk)) {
			return true
		}
	}
	return false
}

func (in *inputs) addCustom(d *document, gk schema.GroupKind, object string) ErrorList {
	switch gk {
	case gkLinstorCluster:
		return addLoose(d, object, &in.clusters)
	case gkSatelliteConfig:
		return addLoose(d, object, &in.satelliteCfgs)
	case gkNodeConnection:
		return addLoose(d, object, &in.nodeConns)
	case gkStorageTopology:
		return addLoose(d, object, &in.topologies)
	case gkStorageVolume:
		return addLoose(d, object, &in.storageVolumes)
	case gkNodeAllocation:
		return addLoose(d, object, &in.nodeAllocations)
	}
	return ErrorList{d.errorAt("kind", object, "no decoder for this kind")}
}

func (in *inputs) addBuiltin(d *document, gk schema.GroupKind, object string) ErrorList {
	switch gk {
	case gkNode:
		return addStrict(d, object, &in.nodes)
	case gkStorageClass:
		return addStrict(d, object, &in.storageClasses)
	case gkSnapshotClass:
		return addStrict(d, object, &in.snapshotClasses)
	case gkClaim:
		defaultNamespace(d.obj)
		return addStrict(d, object, &in.claims)
	case gkPersistentVolume:
		return addStrict(d, object, &in.volumes)
	case gkPod:
		defaultNamespace(d.obj)
		return addStrict(d, object, &in.pods)
	}
	return ErrorList{d.errorAt("kind", object, "no decoder for this kind")}
}

func addLoose[T any](d *document, object string, list *[]located[T]) ErrorList {
	var v T
	if errs := d.decodeLoose(d.obj, &v, object); len(errs) > 0 {
		return errs
	}
	*list = append(*list, located[T]{obj: v, doc: d})
	return nil
}

func addStrict[T any](d *document, object string, list *[]located[T]) ErrorList {
	var v T
	if errs := d.decodeStrict(d.obj, &v, object); len(errs) > 0 {
		return errs
	}
	*list = append(*list, located[T]{obj: v, doc: d})
	return nil
}

// defaultNamespace sets metadata.namespace to "default" as kubectl would.
func defaultNamespace(obj map[string]any) {
	md := obj["metadata"].(map[string]any)
	if ns, _ := md["namespace"].(string); ns == "" {
		md["namespace"] = "default"
	}
}
