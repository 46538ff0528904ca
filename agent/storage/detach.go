package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/piraeusctl/piraeusctl/hostexec"
)

// DetachLoopsUnder detaches every loop device whose backing file lies under
// dir: what a test or the local datastore leaves on its pool folders when
// it stops. Devices are chosen by backing file at the moment of the call,
// never by a device name remembered earlier: a loop device's number is
// reused by the next attach, so detaching a remembered /dev/loopN can take
// the device of another process.
func DetachLoopsUnder(ctx context.Context, ex hostexec.Executor, dir string) error {
	devs, err := listLoops(ctx, ex)
	if err != nil {
		return fmt.Errorf("detach loop devices under %s: %w", dir, err)
	}
	var errs []error
	for _, d := range devs {
		if !under(dir, d.BackFile) {
			continue
		}
		if _, err := ex.Run(ctx, hostexec.Write("losetup", "--detach", d.Name)); err != nil {
			errs = append(errs, fmt.Errorf("detach %s (%s): %w", d.Name, d.BackFile, err))
		}
	}
	return errors.Join(errs...)
}

// under reports whether path lies inside dir.
func under(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}
