package plan

import (
	"fmt"
	"strconv"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/piraeusctl/piraeusctl/api/crds"
)

// crdSchema validates and defaults objects of one kind exactly as the API
// server does for the CRD that the plan ships.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
}

// Schemas holds the validators of every shipped CRD, by group-version-kind.
// Build it once with NewSchemas and share it between Loads.
type Schemas struct {
	byGVK map[schema.GroupVersionKind]*crdSchema
}

// NewSchemas compiles the shipped CRDs (api/crds) into validators.
func NewSchemas() (*Schemas, error) {
	all, err := crds.All()
	if err != nil {
		return nil, err
	}
	s := &Schemas{byGVK: map[schema.GroupVersionKind]*crdSchema{}}
	for i := range all {
		if err := s.add(&all[i]); err != nil {
			return nil, fmt.Errorf("compile CRD %s: %w", all[i].Name, err)
		}
	}
	return s, nil
}

func (s *Schemas) add(crd *apiextensionsv1.CustomResourceDefinition) error {
	for _, v := range crd.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return fmt.Errorf("version %s has no schema", v.Name)
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return fmt.Errorf("convert schema of %s: %w", v.Name, err)
		}
		structural, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return fmt.Errorf("structural schema of %s: %w", v.Name, err)
		}
		validator, _, err := apiservervalidation.NewSchemaValidator(&internal)
		if err != nil {
			return fmt.Errorf("validator of %s: %w", v.Name, err)
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
		s.byGVK[gvk] = &crdSchema{structural: structural, validator: validator}
	}
	return nil
}

// lookup returns the schema of a kind, or nil when the plan ships no CRD for it.
func (s *Schemas) lookup(gvk schema.GroupVersionKind) *crdSchema {
	return s.byGVK[gvk]
}

// check reports unknown fields and schema violations of obj, then applies
// the schema's defaults to obj in place (as the API server would).
func (c *crdSchema) check(obj map[string]any, boolWords map[string]bool) (unknown []string, errs field.ErrorList) {
	if len(boolWords) > 0 {
		coerceBoolWords(obj, c.structural, "", boolWords)
	}
	probe := runtime.DeepCopyJSONValue(obj).(map[string]any)
	unknown = structuralpruning.PruneWithOptions(probe, c.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	structuraldefaulting.Default(obj, c.structural)
	return unknown, apiservervalidation.ValidateCustomResource(nil, obj, c.validator)
}

// coerceBoolWords turns unquoted YAML 1.1 boolean words (yes, no, on, off,
// ...) into booleans where the schema expects a boolean; elsewhere they stay
// strings. Paths are spelled as the document index spells them.
func coerceBoolWords(v any, s *structuralschema.Structural, path string, words map[string]bool) any {
	if s == nil {
		return v
	}
	switch x := v.(type) {
	case string:
		if s.Type == "boolean" && words[path] {
			return yaml11Bools[x]
		}
	case map[string]any:
		for k, e := range x {
			child, ok := s.Properties[k]
			sub := &child
			if !ok {
				sub = nil
				if s.AdditionalProperties != nil {
					sub = s.AdditionalProperties.Structural
				}
			}
			x[k] = coerceBoolWords(e, sub, joinPath(path, k), words)
		}
	case []any:
		for i, e := range x {
			x[i] = coerceBoolWords(e, s.Items, path+"["+strconv.Itoa(i)+"]", words)
		}
	}
	return v
}
