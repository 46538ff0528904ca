package render

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// hashLen is the length of the hash suffix of shortened names.
const hashLen = 8

// SatelliteName is the name of a node's satellite DaemonSet:
// linstor-satellite-<node> in a safe DNS-1123 label form.
func SatelliteName(node string) (string, error) {
	if node == "" {
		return "", fmt.Errorf("satellite name: empty node name")
	}
	return hashedName("linstor-satellite", node, validation.DNS1123LabelMaxLength), nil
}

// hashedName joins prefix and name into a DNS-1123 label of at most max
// characters. When name is already safe and fits, the result is
// prefix-name; otherwise the name is lower-cased, odd characters become
// '-', it is cut to fit, and a short hash of the original name is appended,
// so distinct names never collide and the result is stable.
func hashedName(prefix, name string, max int) string {
	plain := prefix + "-" + name
	if len(plain) <= max && len(validation.IsDNS1123Label(plain)) == 0 {
		return plain
	}
	return shortened(plain, name, max)
}

// shortened turns plain into lower-case letters, digits and '-', cut to fit
// max with a hash of name appended: a DNS-1123 label when max ≤ 63, a
// subdomain up to 253, and a valid label value.
func shortened(plain, name string, max int) string {
	suffix := hashOf(name)
	var b strings.Builder
	b.Grow(len(plain))
	for _, r := range strings.ToLower(plain) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	safe := b.String()
	keep := max - hashLen - 1
	if len(safe) > keep {
		safe = safe[:keep]
	}
	safe = strings.Trim(safe, "-")
	return safe + "-" + suffix
}

// hashOf is the short hash suffix of a name.
func hashOf(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])[:hashLen]
}

// SatelliteTLSSecretName is the default Secret of a satellite's internal
// TLS: linstor-satellite-internal-tls-<node>, shortened with a hash when
// that is no valid Secret name (a DNS-1123 subdomain of at most 253
// characters), as a 253-character node name makes it.
func SatelliteTLSSecretName(node string) string {
	const prefix = "linstor-satellite-internal-tls"
	if plain := prefix + "-" + node; len(validation.IsDNS1123Subdomain(plain)) == 0 {
		return plain
	}
	return shortened(prefix+"-"+node, node, validation.DNS1123SubdomainMaxLength)
}

// instanceLabel is the app.kubernetes.io/instance value of a LinstorCluster
// name: the name itself, shortened with a hash when it is no valid label
// value (a LinstorCluster name may have 253 characters, a label value 63).
func instanceLabel(name string) string {
	if len(validation.IsValidLabelValue(name)) == 0 {
		return name
	}
	return shortened(name, name, validation.LabelValueMaxLength)
}

// ControllerInternalTLSSecret is the default Secret of the controller's
// client certificate for the agents (kept by gencert).
const ControllerInternalTLSSecret = "linstor-controller-internal-tls"

// SatelliteComponent is the component label of the satellite DaemonSets.
const SatelliteComponent = "linstor-satellite"

// SatelliteTLSVolume is the volume of a satellite Pod that mounts the
// node's internal TLS Secret (templates/linstor-satellite.jsonnet).
const SatelliteTLSVolume = "internal-tls"

// TLSIssuerAnnotation on a satellite DaemonSet says who provisions the
// Secret it mounts; GencertIssuer when piraeus-operator-gencert does.
const (
	TLSIssuerAnnotation = "storage.piraeus.io/internal-tls-issuer"
	GencertIssuer       = "piraeus-operator-gencert"
)
