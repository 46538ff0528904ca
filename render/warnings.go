package render

import (
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	piraeusv1 "github.com/piraeusctl/piraeusctl/api/v1"
	"github.com/piraeusctl/piraeusctl/plan"
)

// Warnings about spec.patches entries whose target matches nothing.
// Upstream (kustomize) skips such a patch silently; users copy patches from
// upstream's documentation that name objects differently or that this
// datastore does not have, so the warning says what is rendered instead.

// patchWarnings turns unmatched patches into warnings at the patches'
// positions in the input.
func patchWarnings(m *plan.Model, unmatched []unmatchedPatch) plan.ErrorList {
	var out plan.ErrorList
	for _, u := range unmatched {
		field := u.field
		if u.object != "" {
			field += ".target"
			if u.patch.Target == nil {
				field = u.field + ".patch" // the object the patch names is its target
			}
		}
		out = append(out, &plan.Error{
			Pos:     m.Position(u.object, field),
			Object:  u.object,
			Field:   field,
			Message: unmatchedMessage(u),
		})
	}
	return out
}

// agentConfigHint is what replaces upstream's satellite configuration file.
const agentConfigHint = "upstream's satellite configuration file (linstor_satellite.toml in the ConfigMap satellite-config) " +
	"does not exist here: the agent's flags replace it (see piraeusctl agent --help; the log level is --log-level)"

func unmatchedMessage(u unmatchedPatch) string {
	msg := "target " + describeSelector(u.target) + " matches no object in the plan, so the patch is skipped (as upstream skips it)"
	switch {
	case isSatelliteConfigMap(u):
		return msg + ": " + agentConfigHint
	case u.nearest != nil && strings.EqualFold(u.target.Kind, "Pod") && isWorkload(u.nearest):
		return msg + "; the nearest object in the plan is " + u.nearest.GetKind() + "/" + u.nearest.GetName() +
			", whose Pods are set by spec.podTemplate"
	case u.nearest != nil:
		return msg + "; the nearest object in the plan is " + u.nearest.GetKind() + "/" + u.nearest.GetName()
	}
	return msg + "; no object in the plan is like it"
}

// describeSelector prints the conditions of a target: "kind=Daemonset, name=csi-node".
func describeSelector(s *piraeusv1.Selector) string {
	var parts []string
	for _, kv := range [][2]string{
		{"group", s.Group}, {"version", s.Version}, {"kind", s.Kind}, {"name", s.Name}, {"namespace", s.Namespace},
		{"labelSelector", s.LabelSelector}, {"annotationSelector", s.AnnotationSelector},
	} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "(empty)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// isSatelliteConfigMap: the patch targets upstream's satellite ConfigMap
// (satellite-config, holding linstor_satellite.toml).
func isSatelliteConfigMap(u unmatchedPatch) bool {
	if !strings.EqualFold(u.target.Kind, "ConfigMap") {
		return false
	}
	if strings.Contains(u.patch.Patch, "linstor_satellite.toml") {
		return true
	}
	re := nameMatcher(u.target.Name)
	return re != nil && (re.MatchString("satellite-config") || re.MatchString("linstor-satellite-config"))
}

// nearestObject is the first object that is like the target: its kind
// (ignoring case) and its name, or else its name alone, where a name is
// like another ignoring case and a "linstor-" prefix, and a satellite's
// objects are also named after their component (linstor-satellite).
func nearestObject(objs []*unstructured.Unstructured, target *piraeusv1.Selector) *unstructured.Unstructured {
	re := nameMatcher(target.Name)
	if re == nil {
		return nil
	}
	var byName *unstructured.Unstructured
	for _, o := range objs {
		if !nameAlike(re, o) {
			continue
		}
		if target.Kind == "" || strings.EqualFold(target.Kind, o.GetKind()) {
			return o
		}
		if byName == nil {
			byName = o
		}
	}
	return byName
}

// nameMatcher compiles a target name (an anchored regular expression) to
// match case-insensitively; nil when there is no name or it does not
// compile.
func nameMatcher(name string) *regexp.Regexp {
	if name == "" {
		return nil
	}
	re, err := regexp.Compile("(?i)^(?:" + name + ")$")
	if err != nil {
		return nil
	}
	return re
}

func nameAlike(re *regexp.Regexp, o *unstructured.Unstructured) bool {
	for _, n := range []string{o.GetName(), o.GetLabels()[ComponentLabel]} {
		if n == "" {
			continue
		}
		bare := strings.TrimPrefix(strings.ToLower(n), "linstor-")
		if re.MatchString(n) || re.MatchString(bare) || re.MatchString("linstor-"+bare) {
			return true
		}
	}
	return false
}
