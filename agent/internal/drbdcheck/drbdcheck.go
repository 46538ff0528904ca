// Package drbdcheck runs the real drbdadm parser on generated resource
// files in tests, as the node named in the file would: in fresh UTS and
// network namespaces whose host name is the node name and whose loopback
// carries the node's addresses (drbdadm checks both).
package drbdcheck

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// Drbdadm runs drbdadm with args as node, with addrs local. It fails the
// test when drbdadm is missing (naming the script that installs it) and
// skips only when testsupport.SkipIntegrationEnv=1.
func Drbdadm(t testing.TB, node string, addrs []string, args ...string) string {
	t.Helper()
	Require(t)
	out, err := run(context.Background(), "drbdadm", node, addrs, args...)
	require.NoError(t, err, "drbdadm %s", strings.Join(args, " "))
	return out
}

func run(ctx context.Context, prog, node string, addrs []string, args ...string) (string, error) {
	script := "ip link set lo up || exit 1\n"
	for _, a := range addrs {
		script += "ip addr add " + a + " dev lo || exit 1\n"
	}
	script += `printf '%s' "$0" > /proc/sys/kernel/hostname && exec ` + prog + ` "$@"`
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", script, node}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, withoutModinfo(stderr.String()))
	}
	return stdout.String(), nil
}

// withoutModinfo drops the warnings drbdadm prints when modinfo is missing.
func withoutModinfo(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "modinfo") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// Require is for tests that run the real drbdadm (directly or through the
// DRBD simulator): it skips them when testsupport.SkipIntegrationEnv=1 and
// fails them when drbdadm is missing, naming the script that installs it.
func Require(t testing.TB) {
	t.Helper()
	testsupport.SkipIntegration(t, "not running the real drbdadm")
	_, err := exec.LookPath("drbdadm")
	require.NoError(t, err, "drbdadm not found: run hack/install-deps.sh drbd-utils (or make test-deps)")
}
