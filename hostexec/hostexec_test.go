package hostexec

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCmdString(t *testing.T) {
	tests := []struct {
		cmd  Cmd
		want string
	}{
		{Read("lvs", "--reportformat", "json"), "lvs --reportformat json"},
		{Write("drbdadm", "up", "pvc-1").InUTS("node-a"), "[uts node-a] drbdadm up pvc-1"},
		{Write("sh", "-c", "echo 'x y'"), `sh -c 'echo '\''x y'\'''`},
		{Read("printf", ""), "printf ''"},
	}
	for _, tt := range tests {
		got := tt.cmd.String()
		assert.Equal(t, tt.want, got, "String() = %q, want %q", got, tt.want)
	}
}

func TestLocalRunsAndReportsFailure(t *testing.T) {
	l := &Local{}
	res, err := l.Run(t.Context(), Read("sh", "-c", "echo out; echo boom >&2; exit 5"))
	require.Error(t, err, "want error for exit 5")
	code, ok := ExitCode(err)
	require.False(t, !ok || code != 5, "ExitCode = %d, %v; want 5, true", code, ok)
	want := `sh -c 'echo out; echo boom >&2; exit 5' failed (exit 5): boom`
	assert.Equal(t, want, err.Error(), "error = %q, want %q", err, want)
	assert.False(t, string(res.Stdout) != "out\n" || res.ExitCode != 5, "result = %q exit %d", res.Stdout, res.ExitCode)
}

func TestLocalTimeout(t *testing.T) {
	l := &Local{Timeout: 50 * time.Millisecond}
	_, err := l.Run(t.Context(), Read("sleep", "5"))
	require.ErrorIs(t, err, context.DeadlineExceeded, "want deadline exceeded, got %v", err)
}

func TestLocalMissingProgram(t *testing.T) {
	_, err := (&Local{}).Run(t.Context(), Read("piraeusctl-no-such-tool"))
	require.ErrorContains(t, err, "piraeusctl-no-such-tool", "want error naming the program, got")
}

func TestLocalUTSNamespace(t *testing.T) {
	res, err := (&Local{}).Run(t.Context(), Read("uname", "-n").InUTS("k8s-node-7"))
	require.NoError(t, err, "run in UTS namespace (needs root)")
	got := strings.TrimSpace(string(res.Stdout))
	assert.Equal(t, "k8s-node-7", got, "hostname in namespace = %q, want k8s-node-7", got)
	own, err := (&Local{}).Run(t.Context(), Read("uname", "-n"))
	require.NoError(t, err)
	assert.NotEqual(t, "k8s-node-7", strings.TrimSpace(string(own.Stdout)), "host name leaked out of the namespace")
}

func TestRecorderAndScript(t *testing.T) {
	s := NewScript(
		Step{Line: "lvs vg", Stdout: "{}"},
		Step{Line: "lvcreate -n a vg", ExitCode: 5, Stderr: "no space"},
	)
	r := &Recorder{Next: s}
	ctx := t.Context()
	res, err := r.Run(ctx, Read("lvs", "vg"))
	require.False(t, err != nil || string(res.Stdout) != "{}", "step 0: %q %v", res.Stdout, err)
	_, err = r.Run(ctx, Write("lvcreate", "-n", "a", "vg"))
	require.False(t, err == nil || err.Error() != "lvcreate -n a vg failed (exit 5): no space", "step 1 error = %v", err)
	_, err = r.Run(ctx, Read("vgs"))
	require.Error(t, err, "want error for a command after the script")
	want := "read:  lvs vg\nwrite: lvcreate -n a vg\nread:  vgs\n"
	got := r.Log()
	assert.Equal(t, want, got, "log:\n%s\nwant:\n%s", got, want)
	n := len(r.Mutating())
	assert.EqualValues(t, 1, n, "mutating = %d, want 1", n)
}

func TestScriptOutOfOrder(t *testing.T) {
	s := NewScript(Step{Line: "a"})
	_, err := s.Run(t.Context(), Read("b"))
	require.ErrorContains(t, err, `expected "a", got "b"`, "got")
	assert.Len(t, s.Remaining(), 1, "failed step must not be consumed")
}

func TestLocalStream(t *testing.T) {
	l := &Local{}
	s, err := l.Stream(t.Context(), Read("sh", "-c", "echo one; echo two; echo bad >&2; exit 3"))
	require.NoError(t, err)
	out, err := io.ReadAll(s)
	require.False(t, err != nil || string(out) != "one\ntwo\n", "read %q, %v", out, err)
	err = s.Close()
	code, ok := ExitCode(err)
	require.False(t, !ok || code != 3 || !strings.Contains(err.Error(), "bad"), "Close = %v, want exit 3 with stderr", err)
}

func TestLocalStreamCloseStops(t *testing.T) {
	s, err := (&Local{}).Stream(t.Context(), Read("sh", "-c", "echo ready; exec sleep 60"))
	require.NoError(t, err)
	buf := make([]byte, 6)
	_, err = io.ReadFull(s, buf)
	require.False(t, err != nil || string(buf) != "ready\n", "read %q, %v", buf, err)
	start := time.Now()
	err = s.Close()
	require.NoError(t, err, "Close of a running stream = %v, want nil", err)
	d := time.Since(start)
	require.False(t, d > 5*time.Second, "Close took %s", d)
}

// TestLocalExclusive: commands under one lock key never overlap, even from
// separate executors (as separate agents on one host): each holds a
// directory for a moment, and mkdir fails if another holds it.
func TestLocalExclusive(t *testing.T) {
	held := filepath.Join(t.TempDir(), "held")
	key := testLockKey(t)
	script := `mkdir "$0" && sleep 0.02 && rmdir "$0"`
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := (&Local{}).Run(context.Background(), Write("sh", "-c", script, held).Alone(key))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestLocalExclusiveHonoursContext(t *testing.T) {
	key := testLockKey(t)
	unlock, err := hostLock(context.Background(), key)
	require.NoError(t, err)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = (&Local{}).Run(ctx, Write("true").Alone(key))
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// testLockKey is a lock key of the test's own, whose lock file goes after.
func testLockKey(t *testing.T) string {
	key := "test-" + filepath.Base(t.TempDir())
	t.Cleanup(func() { os.Remove(filepath.Join(os.TempDir(), "piraeusctl-"+key+".lock")) })
	return key
}
