package render

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piraeusctl/piraeusctl/internal/kindorder"
	"github.com/piraeusctl/piraeusctl/plan"
	"github.com/piraeusctl/piraeusctl/planfile"
)

// Options change how a model is rendered.
type Options struct {
	// TemplatesDir, when set, is searched before the embedded templates:
	// a file there replaces the embedded one of the same path, and extra
	// top-level *.jsonnet files add components.
	TemplatesDir string
	// Images overrides image references by name (see images.yaml), e.g.
	// {"csi-provisioner": "registry.example/csi-provisioner:v6.0.0"}.
	Images map[string]string
	// Version is the piraeusctl version: the tag of the piraeusctl image and
	// the app.kubernetes.io/version label. Empty means the shipped tag.
	Version string
	// MaxStack bounds Jsonnet recursion; 0 means the default (500).
	MaxStack int
}

// Plan is the rendered desired state: every object, in apply order.
type Plan struct {
	Objects []*unstructured.Unstructured
	// Warnings found while rendering (e.g. a spec.patches target that
	// matches no rendered object), in the shape of plan's input errors.
	Warnings plan.ErrorList
}

// Render renders the model into a plan.
func Render(ctx context.Context, m *plan.Model, opts Options) (*Plan, error) {
	if m == nil {
		return nil, fmt.Errorf("render: nil model")
	}
	imgs, err := resolveImages(m.Cluster.Spec.Repository, opts.Version, opts.Images)
	if err != nil {
		return nil, err
	}
	version := opts.Version
	if version == "" {
		version = imageTag(imgs.refs[ImagePiraeusctl])
	}
	in, err := buildInput(m, imgs, version)
	if err != nil {
		return nil, err
	}
	src, err := newTemplateSource(opts.TemplatesDir)
	if err != nil {
		return nil, err
	}
	rendered, err := evaluate(ctx, src, opts.MaxStack, in)
	if err != nil {
		return nil, err
	}
	groups := groupByNode(rendered)
	if err := applyPodTemplates(m, groups); err != nil {
		return nil, err
	}
	warnings, err := applyPatches(m, groups)
	if err != nil {
		return nil, err
	}
	objs := groups.flatten()
	data, err := dataObjects(m)
	if err != nil {
		return nil, err
	}
	labelObjects(data.owned, in)
	objs = append(objs, data.owned...)
	objs = append(objs, data.given...)
	kindorder.Sort(objs)
	if err := checkUnique(objs); err != nil {
		return nil, err
	}
	if err := checkNames(objs); err != nil {
		return nil, err
	}
	return &Plan{Objects: objs, Warnings: warnings}, nil
}

// imageTag returns the tag of an image reference; a digest
// ("REPO@sha256:…", "REPO:TAG@sha256:…") is not a tag.
func imageTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	for i := len(ref) - 1; i >= 0; i-- {
		switch ref[i] {
		case ':':
			return ref[i+1:]
		case '/':
			return ""
		}
	}
	return ""
}

// checkUnique fails when two objects share apiVersion group, kind, namespace and name.
func checkUnique(objs []*unstructured.Unstructured) error {
	seen := make(map[string]bool, len(objs))
	for _, o := range objs {
		id := planfile.ObjectID(o)
		if seen[id] {
			return fmt.Errorf("render: object %s rendered twice (a passthrough object or custom template clashes with a rendered one)", id)
		}
		seen[id] = true
	}
	return nil
}
