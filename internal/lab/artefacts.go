package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// Environment variables that control the lab. The variables that skip it
// are testsupport.SkipLabEnv and testsupport.SkipIntegrationEnv.
const (
	// DirEnv names a prepared artefact folder (vmlinuz, initrd.cpio); then the
	// tests use it as it is and build nothing.
	DirEnv = "PIRAEUSCTL_LAB_DIR"
	// RecordEnv names a folder the DRBD 9 scenarios write the real
	// `drbdsetup events2` and `status --json` output they capture to
	// (agent/drbd/testdata refreshes the recorded parser inputs).
	RecordEnv = "PIRAEUSCTL_LAB_RECORD"
)

// Artefacts are the files a VM boots from.
type Artefacts struct {
	Kernel string
	Initrd string
}

// SkipReason returns why the lab tests are to be skipped, or "" to run them.
func SkipReason() string {
	for _, env := range []string{testsupport.SkipLabEnv, testsupport.SkipIntegrationEnv} {
		if os.Getenv(env) == "1" {
			return env + "=1: skipping the real-storage lab (qemu VMs)"
		}
	}
	return ""
}

// Prepare returns the boot artefacts. Unless DirEnv names a folder, it runs
// `hack/lab/lab.sh initrd`, which rebuilds the static binaries of this tree
// into the initrd (no downloads); the kernel and base initramfs must have
// been prepared by `hack/lab/lab.sh ensure` (make test-deps).
func Prepare(ctx context.Context) (Artefacts, error) {
	dir := os.Getenv(DirEnv)
	if dir == "" {
		root, err := testsupport.RepoRoot()
		if err != nil {
			return Artefacts{}, err
		}
		script := filepath.Join(root, "hack", "lab", "lab.sh")
		cmd := exec.CommandContext(ctx, script, "initrd")
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return Artefacts{}, fmt.Errorf("%s initrd: %w: %s\n(run hack/lab/lab.sh ensure, or make test-deps, once on this machine; or set %s=1 to skip the lab)",
				script, err, stderrOf(err), testsupport.SkipLabEnv)
		}
		dir = strings.TrimSpace(string(out))
	}
	a := Artefacts{Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.cpio")}
	for _, f := range []string{a.Kernel, a.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return Artefacts{}, fmt.Errorf("lab artefact: %w (run hack/lab/lab.sh ensure)", err)
		}
	}
	if _, err := exec.LookPath(qemuBinary); err != nil {
		return Artefacts{}, fmt.Errorf("%w (run hack/lab/lab.sh ensure: it installs qemu-system-x86)", err)
	}
	return a, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
