package k8spath

// go test ./... -update hands -update to every test binary: this package
// keeps no golden file, yet its tests must accept the flag.
import _ "github.com/piraeusctl/piraeusctl/internal/golden"
