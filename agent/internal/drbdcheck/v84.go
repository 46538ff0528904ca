package drbdcheck

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// Drbdadm84Path is drbd-utils' DRBD 8.4 drbdadm, which drbdadm itself runs
// when the kernel's module is 8.4 (this host has none, so it is called directly).
const Drbdadm84Path = "/lib/drbd/drbdadm-84"

// Drbdadm84 is Drbdadm with the DRBD 8.4 parser.
func Drbdadm84(t testing.TB, node string, addrs []string, args ...string) string {
	t.Helper()
	testsupport.SkipIntegration(t, "not checking with the real drbdadm-84")
	_, err := os.Stat(Drbdadm84Path)
	require.NoError(t, err, "%s not found: run hack/install-deps.sh drbd-utils (or make test-deps)", Drbdadm84Path)
	out, err := run(context.Background(), Drbdadm84Path, node, addrs, args...)
	require.NoError(t, err, "drbdadm-84 %s", strings.Join(args, " "))
	return out
}
