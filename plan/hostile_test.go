package plan_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/piraeusctl/piraeusctl/plan"
)

// aliasBomb is a "billion laughs" document: 9^9 values from 370 bytes.
const aliasBomb = `apiVersion: v1
kind: Node
metadata: {name: n1}
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
`

const oneNode = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n"

// blockingReader never returns, as a terminal or a pipe no one writes to.
type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }

// endless is /dev/zero as a reader.
type endless struct{}

var spaces = []byte(strings.Repeat(" ", 1<<16))

func (endless) Read(p []byte) (int, error) {
	return copy(p, spaces), nil
}

// TestNeverHangNeverBalloon holds issue 18 §1: no input blocks, grows
// without bound or takes long to refuse; each refusal names the limit.
// Each case returns what reading (and loading) said: the error, the warnings.
func TestNeverHangNeverBalloon(t *testing.T) {
	schemas, err := plan.NewSchemas()
	require.NoError(t, err)
	load := func(t *testing.T, data string) (string, string) {
		_, err := plan.Load(t.Context(), []plan.Source{{Name: "in.yaml", Data: []byte(data)}}, plan.LoadOptions{Schemas: schemas})
		return errText(err), ""
	}
	read := func(t *testing.T, stdin io.Reader, paths ...string) (string, string) {
		srcs, warnings, err := plan.ReadSources(t.Context(), paths, stdin)
		if err == nil {
			for _, s := range srcs {
				t.Logf("read %s", s.Name)
			}
		}
		return errText(err), errText(warnings)
	}
	tests := []struct {
		name     string
		run      func(t *testing.T, dir string) (errText, warnings string)
		wantErr  string
		wantWarn string
	}{
		{
			name: "a FIFO given with -f is refused, not opened for a writer",
			run: func(t *testing.T, dir string) (string, string) {
				require.NoError(t, unix.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o600))
				return read(t, nil, filepath.Join(dir, "pipe.yaml"))
			},
			wantErr: "pipe.yaml: a named pipe (FIFO), not a regular file; -f takes files, folders or - for stdin",
		},
		{
			name: "a FIFO inside a -f folder is skipped with a warning",
			run: func(t *testing.T, dir string) (string, string) {
				require.NoError(t, unix.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o600))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "node.yaml"), []byte(oneNode), 0o644))
				return read(t, nil, dir)
			},
			wantWarn: "pipe.yaml: skipped: a named pipe (FIFO), not a regular file; only regular files are read from folders",
		},
		{
			name: "a symbolic link to a FIFO inside a folder is skipped too",
			run: func(t *testing.T, dir string) (string, string) {
				fifo := filepath.Join(t.TempDir(), "p")
				require.NoError(t, unix.Mkfifo(fifo, 0o600))
				require.NoError(t, os.Symlink(fifo, filepath.Join(dir, "link.yaml")))
				return read(t, nil, dir)
			},
			wantWarn: "link.yaml: skipped: a named pipe (FIFO), not a regular file",
		},
		{
			name: "-f /dev/zero is refused",
			run: func(t *testing.T, _ string) (string, string) {
				return read(t, nil, "/dev/zero")
			},
			wantErr: "read /dev/zero: a character device, not a regular file",
		},
		{
			name: "an endless stdin stops at the size limit",
			run: func(t *testing.T, _ string) (string, string) {
				return read(t, endless{}, "-")
			},
			wantErr: "read stdin: more than the input limit of 64 MiB",
		},
		{
			name: "a file over the size limit is refused without reading it",
			run: func(t *testing.T, dir string) (string, string) {
				big := filepath.Join(dir, "big.yaml")
				require.NoError(t, os.WriteFile(big, nil, 0o644))
				require.NoError(t, os.Truncate(big, plan.MaxInputBytes+1))
				return read(t, nil, big)
			},
			wantErr: "big.yaml: 67108865 bytes, more than the input limit of 64 MiB",
		},
		{
			name: "stdin that never ends returns when the command is cancelled",
			run: func(t *testing.T, _ string) (string, string) {
				ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
				defer cancel()
				_, _, err := plan.ReadSources(ctx, []string{"-"}, blockingReader{})
				return errText(err), ""
			},
			wantErr: "read stdin: context deadline exceeded",
		},
		{
			name: "an alias bomb is refused before it is expanded",
			run: func(t *testing.T, _ string) (string, string) {
				start := time.Now()
				e, w := load(t, aliasBomb)
				t.Logf("alias bomb of %d bytes refused in %v", len(aliasBomb), time.Since(start))
				return e, w
			},
			wantErr: "in.yaml:1:1: YAML aliases would add more than 100000 values to this document, the limit for one document (an alias bomb?)",
		},
		{
			name: "a recursive alias is refused",
			run: func(t *testing.T, _ string) (string, string) {
				return load(t, oneNode+"x: &x [*x]\n")
			},
			wantErr: "in.yaml:4:8: the alias *x refers to a value that contains it",
		},
		{
			name: "nesting deeper than the limit is refused",
			run: func(t *testing.T, _ string) (string, string) {
				return load(t, oneNode+"spec: "+strings.Repeat("[", 200)+strings.Repeat("]", 200)+"\n")
			},
			wantErr: "nested more than 128 levels deep, the limit for one document",
		},
		{
			name: "more documents than the limit are refused",
			run: func(t *testing.T, _ string) (string, string) {
				return load(t, strings.Repeat("---\na: 1\n", plan.MaxDocuments+1))
			},
			wantErr: "in.yaml:20001: more than 10000 YAML documents, the limit for one input",
		},
		{
			name: "subfolders behind symbolic links are read",
			run: func(t *testing.T, dir string) (string, string) {
				other := t.TempDir()
				require.NoError(t, os.WriteFile(filepath.Join(other, "node.yaml"), []byte(oneNode), 0o644))
				require.NoError(t, os.Symlink(other, filepath.Join(dir, "linked")))
				srcs, _, err := plan.ReadSources(t.Context(), []string{dir}, nil)
				require.NoError(t, err)
				require.Len(t, srcs, 1)
				require.Equal(t, filepath.Join(dir, "linked", "node.yaml"), srcs[0].Name)
				return "", ""
			},
		},
		{
			name: "a symbolic link loop is detected and skipped",
			run: func(t *testing.T, dir string) (string, string) {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "a"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "a", "node.yaml"), []byte(oneNode), 0o644))
				require.NoError(t, os.Symlink("..", filepath.Join(dir, "a", "up")))
				return read(t, nil, dir)
			},
			wantWarn: "a/up: skipped: a symbolic link loop back to a folder being read",
		},
		{
			name: "a folder reached twice is read once",
			run: func(t *testing.T, dir string) (string, string) {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "a"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "a", "node.yaml"), []byte(oneNode), 0o644))
				require.NoError(t, os.Symlink("a", filepath.Join(dir, "b")))
				return read(t, nil, dir)
			},
			wantWarn: "b: skipped: the same folder as",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan [2]string, 1)
			go func() {
				e, w := tt.run(t, t.TempDir())
				done <- [2]string{e, w}
			}()
			var got [2]string
			select {
			case got = <-done:
			case <-time.After(10 * time.Second):
				require.FailNow(t, "still running after 10s: the input hangs")
			}
			if tt.wantErr == "" {
				require.Empty(t, got[0])
			} else {
				require.Contains(t, got[0], tt.wantErr)
			}
			if tt.wantWarn == "" {
				require.Empty(t, got[1])
			} else {
				require.Contains(t, got[1], tt.wantWarn)
			}
		})
	}
}

// errText is err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// BenchmarkAliasBomb measures how long refusing a billion-laughs document takes.
func BenchmarkAliasBomb(b *testing.B) {
	schemas, err := plan.NewSchemas()
	require.NoError(b, err)
	src := []plan.Source{{Name: "bomb.yaml", Data: []byte(aliasBomb)}}
	for b.Loop() {
		_, err := plan.Load(b.Context(), src, plan.LoadOptions{Schemas: schemas})
		require.Error(b, err, "alias bomb accepted")
	}
}
