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
