package hacontroller

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/piraeusctl/piraeusctl/agent/drbd"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// FileHost answers the HA controller's host commands on a machine without
// DRBD (hack/local-up.sh, replays): `drbdsetup show --json` from a file of
// captured output (none: no resource has a quorum policy), and every
// mutating command is logged and recorded, not run.
type FileHost struct {
	// ShowFile holds `drbdsetup show --json` output; empty for none.
	ShowFile string
	Logger   *slog.Logger
	// Recorder keeps every command asked for.
	Recorder hostexec.Recorder
}

// NewFileHost returns a FileHost reading `drbdsetup show --json` from showFile.
func NewFileHost(showFile string, logger *slog.Logger) *FileHost {
	h := &FileHost{ShowFile: showFile, Logger: logger}
	h.Recorder.Next = fileHostAnswer{h}
	return h
}

// Run implements hostexec.Executor.
func (h *FileHost) Run(ctx context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	return h.Recorder.Run(ctx, cmd)
}

type fileHostAnswer struct{ h *FileHost }

func (a fileHostAnswer) Run(_ context.Context, cmd hostexec.Cmd) (hostexec.Result, error) {
	switch {
	case cmd.Line() == drbd.ShowJSON().Line():
		if a.h.ShowFile == "" {
			return hostexec.Result{Stdout: []byte("[]")}, nil
		}
		data, err := os.ReadFile(a.h.ShowFile)
		if err != nil {
			return hostexec.Result{}, fmt.Errorf("drbdsetup show --json from file: %w", err)
		}
		return hostexec.Result{Stdout: data}, nil
	case cmd.Mutating:
		if a.h.Logger != nil {
			a.h.Logger.Warn("host command recorded, not run (no DRBD here)", "cmd", cmd.String())
		}
		return hostexec.Result{}, nil
	}
	return hostexec.Result{}, fmt.Errorf("%s: no answer for this command without DRBD", cmd.Line())
}
