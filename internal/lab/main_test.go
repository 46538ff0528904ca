package lab_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/internal/lab"
)

// artefacts is set once by TestMain; prepareErr says why it could not be.
var (
	artefacts  lab.Artefacts
	prepareErr error
)

func TestMain(m *testing.M) {
	flag.Parse() // for testing.Short
	if skipReason() == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		start := time.Now()
		artefacts, prepareErr = lab.Prepare(ctx)
		cancel()
		if prepareErr == nil {
			fmt.Fprintf(os.Stderr, "lab: artefacts ready in %s\n", time.Since(start).Round(100*time.Millisecond))
		}
	}
	os.Exit(m.Run())
}

// skipReason says why the VM tests are skipped: -short (the fast unit-test
// pass; the lab takes minutes) or the lab's skip variables.
func skipReason() string {
	if testing.Short() {
		return "-short: skipping the real-storage lab (qemu VMs)"
	}
	return lab.SkipReason()
}

// needLab skips only on -short and the explicit environment variables, and
// fails when the lab is not prepared.
func needLab(t *testing.T) {
	t.Helper()
	if r := skipReason(); r != "" {
		t.Skip(r)
	}
	require.NoError(t, prepareErr, "lab not prepared")
}
