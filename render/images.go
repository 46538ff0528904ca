package render

import (
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

//go:embed images.yaml
var imagesYAML []byte

// Image names that Options.Images may override.
const (
	ImagePiraeusctl       = "piraeusctl"
	ImageDRBDModuleLoader = "drbd-module-loader"
)

type imageConfig struct {
	Groups []imageGroup `json:"groups"`
}

type imageGroup struct {
	Name               string               `json:"name"`
	Base               string               `json:"base"`
	RepositoryOverride bool                 `json:"repositoryOverride"`
	Images             map[string]imageSpec `json:"images"`
}

type imageSpec struct {
	Image string       `json:"image"`
	Tag   string       `json:"tag"`
	Match []imageMatch `json:"match"`
}

type imageMatch struct {
	OSImage string `json:"osImage"`
	Image   string `json:"image"`
}

// images resolves every image reference of a plan.
type images struct {
	// refs by image name, for the templates.
	refs map[string]string
	// loader picks the DRBD module loader image for a node.
	loader func(node *corev1.Node) string
}

// DefaultImage is the reference the plan uses for image name when neither
// LinstorCluster.spec.repository nor --image overrides it; version, when
// set, is the tag of the piraeusctl image (as Options.Version).
func DefaultImage(name, version string) (string, error) {
	imgs, err := resolveImages("", version, nil)
	if err != nil {
		return "", err
	}
	ref, ok := imgs.refs[name]
	if !ok {
		return "", fmt.Errorf("unknown image name %q", name)
	}
	return ref, nil
}

// resolveImages applies the repository and the overrides to the shipped
// version map. version, when set, is the tag of the piraeusctl image.
func resolveImages(repository, version string, overrides map[string]string) (*images, error) {
	var cfg imageConfig
	if err := yaml.UnmarshalStrict(imagesYAML, &cfg); err != nil {
		return nil, fmt.Errorf("decode embedded images.yaml: %w", err)
	}
	out := &images{refs: map[string]string{}}
	var loader imageSpec
	var loaderBase string
	for _, g := range cfg.Groups {
		base := g.Base
		if g.RepositoryOverride && repository != "" {
			base = strings.TrimSuffix(repository, "/")
		}
		for name, spec := range g.Images {
			if name == ImagePiraeusctl && version != "" {
				spec.Tag = version
			}
			out.refs[name] = base + "/" + spec.Image + ":" + spec.Tag
			if name == ImageDRBDModuleLoader {
				loader, loaderBase = spec, base
			}
		}
	}
	if err := checkOverrides(out.refs, overrides); err != nil {
		return nil, err
	}
	for name, ref := range overrides {
		out.refs[name] = ref
	}
	if ref, ok := overrides[ImageDRBDModuleLoader]; ok {
		out.loader = func(*corev1.Node) string { return ref }
		return out, nil
	}
	pick, err := loaderPicker(loader, loaderBase)
	if err != nil {
		return nil, err
	}
	out.loader = pick
	return out, nil
}

func checkOverrides(known, overrides map[string]string) error {
	for name, ref := range overrides {
		if _, ok := known[name]; !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("image override %q: unknown image name; known names: %s", name, strings.Join(names, ", "))
		}
		if ref == "" {
			return fmt.Errorf("image override %q: empty image reference", name)
		}
	}
	return nil
}

// loaderPicker returns the module loader image for a node's OS image.
func loaderPicker(spec imageSpec, base string) (func(*corev1.Node) string, error) {
	type rule struct {
		re  *regexp.Regexp
		ref string
	}
	rules := make([]rule, 0, len(spec.Match))
	for _, m := range spec.Match {
		re, err := regexp.Compile(m.OSImage)
		if err != nil {
			return nil, fmt.Errorf("images.yaml: drbd-module-loader match %q: %w", m.OSImage, err)
		}
		rules = append(rules, rule{re, base + "/" + m.Image + ":" + spec.Tag})
	}
	fallback := base + "/" + spec.Image + ":" + spec.Tag
	return func(node *corev1.Node) string {
		if node != nil {
			for _, r := range rules {
				if r.re.MatchString(node.Status.NodeInfo.OSImage) {
					return r.ref
				}
			}
		}
		return fallback
	}, nil
}
