package placement

import (
	"fmt"
	"math"
)

// bytesIEC renders a byte count for reasons and reports, e.g. "10Gi", "1.5Ti".
func bytesIEC(b int64) string {
	const units = "KMGTPE"
	if b < 1024 && b > -1024 {
		return fmt.Sprintf("%d", b)
	}
	v := float64(b)
	i := -1
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f%ci", v, units[i])
	}
	return fmt.Sprintf("%.1f%ci", v, units[i])
}

// plural returns "1 node", "2 nodes".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
