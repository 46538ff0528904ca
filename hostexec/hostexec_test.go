package hostexec

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
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
		if got := tt.cmd.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestLocalRunsAndReportsFailure(t *testing.T) {
	l := &Local{}
	res, err := l.Run(t.Context(), Read("sh", "-c", "echo out; echo boom >&2; exit 5"))
	if err == nil {
		t.Fatal("want error for exit 5")
	}
	if code, ok := ExitCode(err); !ok || code != 5 {
		t.Fatalf("ExitCode = %d, %v; want 5, true", code, ok)
	}
	want := `sh -c 'echo out; echo boom >&2; exit 5' failed (exit 5): boom`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if string(res.Stdout) != "out\n" || res.ExitCode != 5 {
		t.Errorf("result = %q exit %d", res.Stdout, res.ExitCode)
	}
}

func TestLocalTimeout(t *testing.T) {
	l := &Local{Timeout: 50 * time.Millisecond}
	_, err := l.Run(t.Context(), Read("sleep", "5"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
}

func TestLocalMissingProgram(t *testing.T) {
	_, err := (&Local{}).Run(t.Context(), Read("piraeusctl-no-such-tool"))
	if err == nil || !strings.Contains(err.Error(), "piraeusctl-no-such-tool") {
		t.Fatalf("want error naming the program, got %v", err)
	}
}

func TestLocalUTSNamespace(t *testing.T) {
	res, err := (&Local{}).Run(t.Context(), Read("uname", "-n").InUTS("k8s-node-7"))
	if err != nil {
		t.Fatalf("run in UTS namespace (needs root): %v", err)
	}
	if got := strings.TrimSpace(string(res.Stdout)); got != "k8s-node-7" {
		t.Errorf("hostname in namespace = %q, want k8s-node-7", got)
	}
	own, err := (&Local{}).Run(t.Context(), Read("uname", "-n"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(own.Stdout)) == "k8s-node-7" {
		t.Error("host name leaked out of the namespace")
	}
}

func TestRecorderAndScript(t *testing.T) {
	s := NewScript(
		Step{Line: "lvs vg", Stdout: "{}"},
		Step{Line: "lvcreate -n a vg", ExitCode: 5, Stderr: "no space"},
	)
	r := &Recorder{Next: s}
	ctx := t.Context()
	if res, err := r.Run(ctx, Read("lvs", "vg")); err != nil || string(res.Stdout) != "{}" {
		t.Fatalf("step 0: %q %v", res.Stdout, err)
	}
	_, err := r.Run(ctx, Write("lvcreate", "-n", "a", "vg"))
	if err == nil || err.Error() != "lvcreate -n a vg failed (exit 5): no space" {
		t.Fatalf("step 1 error = %v", err)
	}
	if _, err := r.Run(ctx, Read("vgs")); err == nil {
		t.Fatal("want error for a command after the script")
	}
	want := "read:  lvs vg\nwrite: lvcreate -n a vg\nread:  vgs\n"
	if got := r.Log(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	if n := len(r.Mutating()); n != 1 {
		t.Errorf("mutating = %d, want 1", n)
	}
}

func TestScriptOutOfOrder(t *testing.T) {
	s := NewScript(Step{Line: "a"})
	if _, err := s.Run(t.Context(), Read("b")); err == nil || !strings.Contains(err.Error(), `expected "a", got "b"`) {
		t.Fatalf("got %v", err)
	}
	if len(s.Remaining()) != 1 {
		t.Error("failed step must not be consumed")
	}
}

func TestLocalStream(t *testing.T) {
	l := &Local{}
	s, err := l.Stream(t.Context(), Read("sh", "-c", "echo one; echo two; echo bad >&2; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(s)
	if err != nil || string(out) != "one\ntwo\n" {
		t.Fatalf("read %q, %v", out, err)
	}
	err = s.Close()
	if code, ok := ExitCode(err); !ok || code != 3 || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("Close = %v, want exit 3 with stderr", err)
	}
}

func TestLocalStreamCloseStops(t *testing.T) {
	s, err := (&Local{}).Stream(t.Context(), Read("sh", "-c", "echo ready; exec sleep 60"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close of a running stream = %v, want nil", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %s", d)
	}
}
