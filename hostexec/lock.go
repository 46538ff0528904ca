package hostexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// lockPoll is how often a waiting hostLock tries again.
const lockPoll = 2 * time.Millisecond

// hostLock takes the host-wide lock key: an flock on a file in the
// temporary directory, so the agents of a one-machine datastore (which
// share /tmp) take turns too, and a crashed holder releases it. It waits
// until ctx is done.
//
// What it is for: `losetup --find --show` run in parallel races for the
// same free loop device, and the loser sleeps 200 ms before it tries again
// (util-linux); run in turn, each takes a few milliseconds.
func hostLock(ctx context.Context, key string) (func(), error) {
	path := filepath.Join(os.TempDir(), "piraeusctl-"+key+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("host lock %s: %w", key, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("host lock %s: %w", key, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("host lock %s: %w", key, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
