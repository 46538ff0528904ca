package testsupport

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MainWithBinary is the TestMain of packages whose integration tests run
// the piraeusctl binary (local-up's components): unless integration tests
// are skipped (or -short), it builds cmd/piraeusctl once into a
// temporary folder, sets *binary to it, and runs the tests. *binary stays
// empty when skipped, for the tests to skip on.
func MainWithBinary(m *testing.M, binary *string) int {
	flag.Parse()
	if IntegrationSkipped() || testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "piraeusctl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*binary = filepath.Join(dir, "piraeusctl")
	cmd := exec.Command("go", "build", "-o", *binary, "github.com/piraeusctl/piraeusctl/cmd/piraeusctl")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build piraeusctl:", err)
		return 1
	}
	return m.Run()
}
