package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// startCLI starts `piraeusctl args...` as a real process (TestMainHelper)
// with stdin; it returns the command and a channel that gets its end.
func startCLI(t *testing.T, stdin *os.File, args ...string) (*exec.Cmd, *bytes.Buffer, <-chan error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestMainHelper$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "PIRAEUSCTL_TEST_MAIN=1", "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return cmd, &out, exited
}

// waitReading writes a comment into the FIFO and waits until the process
// has read it: from then on it is blocked reading the FIFO, with its signal
// handling in place.
func waitReading(t *testing.T, fifo *os.File, exited <-chan error) {
	t.Helper()
	_, err := fifo.WriteString("# the process reads this, then waits for more\n")
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			require.FailNow(t, fmt.Sprintf("the command ended before it was signalled: %v", err))
		default:
		}
		n, err := unix.IoctlGetInt(int(fifo.Fd()), unix.TIOCINQ) // FIONREAD: bytes not read yet
		require.NoError(t, err)
		if n == 0 {
			time.Sleep(100 * time.Millisecond) // back in read(2)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.FailNow(t, "the command never read its standard input")
}

// TestSignalWhileReadingFIFO: every command that reads input, blocked on a
// named pipe no one writes to, ends within a second of SIGTERM or SIGINT,
// with a one-line message and exit code 128+signal, and writes nothing.
func TestSignalWhileReadingFIFO(t *testing.T) {
	dir := t.TempDir()
	exportDir := filepath.Join(dir, "export")
	planOut := filepath.Join(dir, "plan.yaml")
	cases := []struct {
		name string
		sig  syscall.Signal
		args []string
	}{
		{"plan", syscall.SIGTERM, []string{"plan", "-f", "-", "--out", planOut}},
		{"plan-sigint", syscall.SIGINT, []string{"plan", "-f", "-"}},
		{"export", syscall.SIGTERM, []string{"export", "-f", "-", "--dir", exportDir}},
		{"diff-live", syscall.SIGTERM, []string{"diff", "-f", "-"}},
		{"apply", syscall.SIGTERM, []string{"apply", "-f", "-"}},
		{"apply-sigint", syscall.SIGINT, []string{"apply", "-f", "-", "--dry-run=server"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fifoPath := filepath.Join(t.TempDir(), "stdin")
			require.NoError(t, unix.Mkfifo(fifoPath, 0o600))
			// Opened read-write, the FIFO always has a writer (this test),
			// so the command's read blocks instead of seeing end of file.
			fifo, err := os.OpenFile(fifoPath, os.O_RDWR, 0)
			require.NoError(t, err)
			defer fifo.Close()
			cmd, out, exited := startCLI(t, fifo, tc.args...)
			waitReading(t, fifo, exited)

			start := time.Now()
			require.NoError(t, cmd.Process.Signal(tc.sig))
			var exitErr error
			select {
			case exitErr = <-exited:
			case <-time.After(5 * time.Second):
				require.FailNow(t, fmt.Sprintf("%s did not end within 5s of %v", tc.name, tc.sig))
			}
			took := time.Since(start)
			t.Logf("%s: exited %v after %v", tc.name, tc.sig, took)
			require.Less(t, took, time.Second, "exit took %v", took)
			var ee *exec.ExitError
			require.True(t, errors.As(exitErr, &ee), "want an exit code, got %v", exitErr)
			require.Equal(t, exitSignalBase+int(tc.sig), ee.ExitCode(), "output:\n%s", out)
			require.Equal(t, "error: interrupted by "+signalName(tc.sig)+"\n", out.String())
		})
	}
	_, err := os.Stat(planOut)
	require.ErrorIs(t, err, os.ErrNotExist, "an interrupted plan wrote its --out file")
	_, err = os.Stat(exportDir)
	require.ErrorIs(t, err, os.ErrNotExist, "an interrupted export created its folder")
}

// TestFIFOArguments: a named pipe given with -f (or as a plan file) is
// refused at once with exit code 2; one inside a -f folder is skipped with
// a warning and the plan goes on. Nothing waits for a writer.
func TestFIFOArguments(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.yaml")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	spec := filepath.Join(dir, "spec")
	require.NoError(t, os.MkdirAll(spec, 0o755))
	data, err := os.ReadFile("../../examples/nodes.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(spec, "nodes.yaml"), data, 0o644))
	require.NoError(t, unix.Mkfifo(filepath.Join(spec, "z-pipe.yaml"), 0o600))

	for _, args := range [][]string{
		{"plan", "-f", fifo},
		{"plan", "-f", "/dev/zero"},
		{"plan", "-f", spec, "--previous", fifo},
		{"diff", fifo, fifo},
		{"apply", "--plan", fifo},
		{"export", "-f", fifo, "--dir", filepath.Join(dir, "out")},
	} {
		start := time.Now()
		_, out, exited := startCLI(t, nil, args...)
		var exitErr error
		select {
		case exitErr = <-exited:
		case <-time.After(20 * time.Second):
			require.FailNow(t, fmt.Sprintf("%v: still running after 20s", args))
		}
		var ee *exec.ExitError
		require.True(t, errors.As(exitErr, &ee), "%v: want exit code 2, got %v\n%s", args, exitErr, out)
		require.Equal(t, exitInvalid, ee.ExitCode(), "%v\n%s", args, out)
		require.Contains(t, out.String(), "not a regular file", args)
		t.Logf("%v: refused after %v", args, time.Since(start))
	}

	_, out, exited := startCLI(t, nil, "plan", "-f", spec, "--summary")
	require.NoError(t, <-exited, out.String())
	require.True(t, strings.HasPrefix(out.String(), "warning: "+filepath.Join(spec, "z-pipe.yaml")+": skipped: a named pipe (FIFO), not a regular file"), out.String())
}
