package plan

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Ranges of the quantities the input gives.
const (
	// MaxVolumeBytes is the largest volume: DRBD's limit for one device (1 PiB).
	MaxVolumeBytes = 1 << 50
	// MaxPoolBytes is the largest pool capacity a node annotation may state.
	MaxPoolBytes = math.MaxInt64
)

// positiveBytes checks that q is a positive number of bytes of at most max
// and returns it; fractions of a byte round up, as Kubernetes rounds them.
// what says what the quantity is, for the message; shown is q as the input
// wrote it, when known.
func positiveBytes(q resource.Quantity, shown string, max int64, path *field.Path, what string) (int64, *field.Error) {
	if shown == "" {
		shown = q.String()
	}
	if q.Sign() <= 0 || q.CmpInt64(max) > 0 {
		return 0, field.Invalid(path, shown, fmt.Sprintf("expected %s: a positive quantity of at most %s, e.g. 10Gi",
			what, resource.NewQuantity(max, resource.BinarySI)))
	}
	return q.Value(), nil
}

// sizeSource is one place a volume's size may come from.
type sizeSource struct {
	key  string // object the field belongs to: "PersistentVolumeClaim/ns/name"
	list corev1.ResourceList
	path *field.Path
}

// volumeSize returns the storage entry of the first source that has one,
// checked against the volume range; found is false when no source has one.
// An entry out of range is an error on its object and field.
func (c *claimCollector) volumeSize(sources ...sizeSource) (size int64, found bool, ok bool) {
	for _, s := range sources {
		q, has := s.list[corev1.ResourceStorage]
		if !has {
			continue
		}
		n, err := positiveBytes(q, "", MaxVolumeBytes, s.path.Key(string(corev1.ResourceStorage)), "the size of the volume (1Pi is the largest DRBD device)")
		if err != nil {
			c.errs[s.key] = append(c.errs[s.key], err)
			return 0, true, false
		}
		return n, true, true
	}
	return 0, false, false
}
