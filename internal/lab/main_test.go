package lab_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/piraeusctl/piraeusctl/internal/lab"
)

// artefacts is set once by TestMain; prepareErr says why it could not be.
var (
	artefacts  lab.Artefacts
	prepareErr error
)

func TestMain(m *testing.M) {
	if lab.SkipReason() == "" {
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

// needLab skips only on the explicit environment variables and fails when
// the lab is not prepared.
func needLab(t *testing.T) {
	t.Helper()
	if r := lab.SkipReason(); r != "" {
		t.Skip(r)
	}
	if prepareErr != nil {
		t.Fatalf("lab not prepared: %v", prepareErr)
	}
}
