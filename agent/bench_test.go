package agent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/piraeusctl/piraeusctl/agent/storage"
	agentv1 "github.com/piraeusctl/piraeusctl/api/agent/v1"
	"github.com/piraeusctl/piraeusctl/hostexec"
	"github.com/piraeusctl/piraeusctl/internal/testsupport"
)

// BenchmarkApplyNoop measures a converge of 100 resources that are already
// in place (the agent's steady state): reading the host and comparing.
func BenchmarkApplyNoop(b *testing.B) {
	t := &testing.T{}
	s := newDRBDSim(b, "node-a", b.TempDir(), newLVMHost(t).withThinPool())
	a, err := New(Config{NodeName: "node-a", ConfigDir: b.TempDir(), Exec: s, ProcDRBD: s.ProcDRBD(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	d := desired("node-a")
	for i := range 100 {
		r := pvc1("node-a")
		r.Name = fmt.Sprintf("pvc-%03d", i)
		r.Drbd.Port = uint32(7000 + i)
		r.Volumes[0].Minor = uint32(1000 + i)
		d.Resources = append(d.Resources, r)
	}
	_, err = a.Apply(b.Context(), d)
	require.NoError(b, err)
	rec := &hostexec.Recorder{Next: s}
	a.cfg.Exec = rec
	b.ResetTimer()
	for b.Loop() {
		res, err := a.Apply(b.Context(), d)
		require.False(b, err != nil || res.MutatingCommandsRun != 0, "%v %v", err, res.GetMutatingCommandsRun())
	}
	b.ReportMetric(float64(len(rec.Commands()))/float64(b.N), "cmds/op")
}

// BenchmarkApplyCreate100 measures one converge that creates 100 new
// resources on a node (a burst of new volumes: backing volumes, metadata,
// resource files, DRBD up), one at a time and DefaultWorkers at a time.
func BenchmarkApplyCreate100(b *testing.B) {
	for _, workers := range []int{1, DefaultWorkers} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				s := newDRBDSim(b, "node-a", b.TempDir(), newLVMHost(&testing.T{}).withThinPool())
				a, err := New(Config{NodeName: "node-a", ConfigDir: b.TempDir(), Exec: s, ProcDRBD: s.ProcDRBD(),
					Workers: workers, Logger: slog.New(slog.DiscardHandler)})
				require.NoError(b, err)
				d := burst(100)
				b.StartTimer()
				res, err := a.Apply(b.Context(), d)
				require.NoError(b, err)
				require.Len(b, res.GetResources(), 100)
			}
		})
	}
}

// BenchmarkApplyCreate50FileThin is one converge that creates 50 new
// storage-only resources in a real FILE_THIN pool (sparse files attached to
// loop devices: what a burst of 50 CSI volumes costs one local node)
// reports when the first and the last of them were reported ready by status.
func BenchmarkApplyCreate50FileThin(b *testing.B) {
	testsupport.RequireRoot(b, "the FILE_THIN benchmark (real loop devices)", "losetup", "truncate")
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "pool")
		a, err := New(Config{NodeName: "node-a", ConfigDir: b.TempDir(), Exec: &hostexec.Local{Logger: slog.New(slog.DiscardHandler)},
			Logger: slog.New(slog.DiscardHandler)})
		require.NoError(b, err)
		d := &agentv1.NodeDesiredState{NodeName: "node-a", StoragePools: []*agentv1.StoragePool{
			{Name: "files", ProviderKind: agentv1.ProviderKind_FILE_THIN, Directory: dir}}}
		for i := range 50 {
			d.Resources = append(d.Resources, fileRes(fmt.Sprintf("pvc-%03d", i), fmt.Sprintf("uid-%03d", i)))
		}
		b.StartTimer()
		res, err := a.Apply(b.Context(), d)
		b.StopTimer()
		require.NoError(b, err)
		for _, r := range res.GetResources() {
			require.Equal(b, agentv1.Outcome_CHANGED, r.GetOutcome(), r.GetMessage())
		}
		_ = storage.DetachLoopsUnder(context.Background(), &hostexec.Local{}, dir)
		b.StartTimer()
	}
}
