package agent

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"

	"github.com/piraeusctl/piraeusctl/agent/drbdsim"
	"github.com/piraeusctl/piraeusctl/hostexec"
)

// hostExecutor is the executor of `piraeusctl agent`: the host itself, or
// with Options.DRBDSimDir the host with DRBD simulated (package drbdsim),
// then also the simulated /proc/drbd to read the DRBD version from.
func hostExecutor(opts Options, log *slog.Logger) (hostexec.Executor, string, error) {
	local := &hostexec.Local{Timeout: opts.CommandTimeout, Logger: log}
	if opts.DRBDSimDir == "" {
		return local, "", nil
	}
	sim, err := drbdsim.New(drbdsim.Config{Dir: opts.DRBDSimDir, Node: opts.NodeName, Next: local,
		ResyncTime: opts.DRBDSimResyncTime, Logger: log})
	if err != nil {
		return nil, "", err
	}
	log.Warn("DRBD IS SIMULATED: this agent drives no DRBD kernel module; drbdadm, drbdsetup and drbdmeta go to a simulator "+
		"(every drbdadm command is still checked by the real drbdadm) and there are no /dev/drbd devices. "+
		"Test and local-datastore mode only.", "state-dir", opts.DRBDSimDir, "version", drbdsim.DefaultVersion,
		"resync-time", opts.DRBDSimResyncTime)
	if _, err := os.Stat(DefaultProcDRBD); !errors.Is(err, fs.ErrNotExist) {
		log.Warn("this host has a DRBD module, which the simulated agent ignores", "path", DefaultProcDRBD)
	}
	return sim, sim.ProcDRBD(), nil
}
