package linstorapi

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	linstor "github.com/LINBIT/golinstor"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// AnnotationName keeps a LINSTOR name on an object whose Kubernetes name
// had to differ (upper case or underscores).
const AnnotationName = "storage.piraeus.io/linstor-name"

// linstorName is LINSTOR's rule for resource, snapshot and group names.
var linstorName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{1,47}$`)

// objectName maps a LINSTOR name (case-insensitive, may hold underscores)
// to a Kubernetes object name, deterministically: the lower-cased name
// when that is a DNS label, else "l-" and a hash of it.
func objectName(name string, code uint64, what string) (string, error) {
	if !linstorName.MatchString(name) || strings.EqualFold(name, "all") {
		return "", invalid(code, "invalid %s name %q: expected 2-48 characters [A-Za-z0-9_-], starting with a letter or _", what, name)
	}
	lower := strings.ToLower(name)
	if len(validation.IsDNS1123Label(lower)) == 0 {
		return lower, nil
	}
	sum := sha256.Sum256([]byte(lower))
	return "l-" + hex.EncodeToString(sum[:10]), nil
}

// displayName is the LINSTOR name of an object.
func displayName(o metav1.Object) string {
	if n := o.GetAnnotations()[AnnotationName]; n != "" {
		return n
	}
	return o.GetName()
}

// setDisplayName records name on o when its object name differs.
func setDisplayName(o metav1.Object, name string) {
	if name == o.GetName() {
		return
	}
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationName] = name
	o.SetAnnotations(a)
}

// rdName maps a resource definition name.
func rdName(name string) (string, error) {
	return objectName(name, uint64(linstor.FailInvldRscName)|maskRscDfn, "resource definition")
}
