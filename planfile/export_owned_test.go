package planfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fileState is what a user's file is: its bytes, mode and time.
type fileState struct {
	data string
	mode fs.FileMode
	mod  time.Time
}

// snapshot records every file under root that export does not own in dir
// per own.
func snapshot(t *testing.T, root, dir string, own ownership) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if filepath.Dir(path) == dir && (own[d.Name()] != nil || d.Name() == OwnershipFile) {
			return nil
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		data := ""
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			data = string(b)
		} else if info.Mode()&fs.ModeSymlink != 0 {
			data, _ = os.Readlink(path)
		}
		out[path] = fileState{data: data, mode: info.Mode(), mod: info.ModTime()}
		return nil
	})
	require.NoError(t, err)
	return out
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
}

// TestExportNeverTouchesWhatIsNotOurs holds issue 18 §4: whatever a user
// puts in kustomization.yaml or the folder, export never removes or changes
// a file it did not write (and refuses obviously wrong folders). Each case
// prepares a folder after a first export, then exports a smaller plan into
// it; every file that is not export's must be exactly as before.
func TestExportNeverTouchesWhatIsNotOurs(t *testing.T) {
	three := readFixture(t)
	one := fixtureNodes(t, 1)
	satellite := "daemonset-piraeus-datastore-linstor-satellite-worker-1.yaml"
	stale := "daemonset-piraeus-datastore-linstor-satellite-worker-3.yaml"
	tests := []struct {
		name      string
		exported  bool // the folder holds a first export of three
		prepare   func(t *testing.T, root, dir string)
		force     bool
		wantErr   string
		wantKept  string
		wantGone  []string // export's files removed
		wantAfter func(t *testing.T, dir string)
	}{
		{name: "user entries in kustomization.yaml: the edited index is not overwritten, nothing removed", exported: true,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(dir, "extra.yaml"), "kind: ConfigMap\n")
				appendTo(t, filepath.Join(dir, KustomizationFile), "- extra.yaml\n- ../outside.yaml\n- "+filepath.Join(root, "abs.yaml")+"\n- "+OwnershipFile+"\n")
				writeFile(t, filepath.Join(root, "outside.yaml"), "x")
				writeFile(t, filepath.Join(root, "abs.yaml"), "y")
			},
			wantErr: "kustomization.yaml: changed since export wrote it"},
		{name: "user entries in kustomization.yaml, --force: the index is rewritten, the user's files stay", exported: true, force: true,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(dir, "extra.yaml"), "kind: ConfigMap\n")
				appendTo(t, filepath.Join(dir, KustomizationFile), "- extra.yaml\n- ../outside.yaml\n")
				writeFile(t, filepath.Join(root, "outside.yaml"), "x")
			},
			wantGone: []string{stale}},
		{name: "a kustomization.yaml listing export's own files and garbage", exported: true, force: true,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(dir, KustomizationFile), "resources: [{a: b}, '', '.', '..', '/', 'sub/x.yaml']\nnot yaml: [\n")
				writeFile(t, filepath.Join(dir, "sub", "x.yaml"), "z")
			},
			wantGone: []string{stale}},
		{name: "no kustomization.yaml and a user file of an exported name: refused", exported: false,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(dir, satellite), "mine\n")
			},
			wantErr: satellite + ": exists, and export did not write it"},
		{name: "no kustomization.yaml and a user file of an exported name, --force: overwritten", exported: false, force: true,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(dir, satellite), "mine\n")
				writeFile(t, filepath.Join(dir, "notes.txt"), "keep\n")
			},
			wantAfter: func(t *testing.T, dir string) {
				data, _ := os.ReadFile(filepath.Join(dir, satellite))
				assert.NotEqual(t, "mine\n", string(data), "--force did not overwrite")
			}},
		{name: "a foreign kustomization.yaml in a fresh folder: refused", exported: false,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(dir, KustomizationFile), "resources: [a.yaml]\n")
				writeFile(t, filepath.Join(dir, "a.yaml"), "a")
			},
			wantErr: "kustomization.yaml: exists, and export did not write it"},
		{name: "an exported file the user edited: refused", exported: true,
			prepare: func(t *testing.T, root, dir string) {
				appendTo(t, filepath.Join(dir, satellite), "# tuned by hand\n")
			},
			wantErr: satellite + ": changed since export wrote it"},
		{name: "a stale exported file the user edited: kept, and no longer export's", exported: true,
			prepare: func(t *testing.T, root, dir string) {
				appendTo(t, filepath.Join(dir, stale), "# tuned by hand\n")
			},
			wantKept: stale + " export wrote it and no longer needs it, but it changed since"},
		{name: "a symbolic link at an exported name: refused, its target untouched", exported: true,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(root, "target.yaml"), "precious")
				must(t, os.Remove(filepath.Join(dir, satellite)))
				must(t, os.Symlink(filepath.Join(root, "target.yaml"), filepath.Join(dir, satellite)))
			},
			wantErr: satellite + ": not a regular file"},
		{name: "an ownership record naming files outside the folder: refused", exported: true,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(root, "victim.yaml"), "v")
				appendTo(t, filepath.Join(dir, OwnershipFile), strings.Repeat("0", 64)+"  ../victim.yaml\n")
			},
			wantErr: `expected "<sha256>  <file name>"`},
		{name: "an export of an older piraeusctl: its stale files are kept", exported: false,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(dir, KustomizationFile), legacyExportHeader+"resources:\n- old-object.yaml\n- "+satellite+"\n")
				writeFile(t, filepath.Join(dir, "old-object.yaml"), "old")
				writeFile(t, filepath.Join(dir, satellite), "old satellite")
			},
			wantKept: "old-object.yaml listed by an export of an older piraeusctl"},
		{name: "--dir at the top of a git repository without an earlier export: refused", exported: false,
			prepare: func(t *testing.T, root, dir string) {
				writeFile(t, filepath.Join(dir, ".git", "HEAD"), "ref: refs/heads/main\n")
				writeFile(t, filepath.Join(dir, "main.go"), "package main\n")
			},
			wantErr: "the top of a git repository that holds no earlier export"},
		{name: "--dir is the home directory: refused", exported: false, force: true,
			prepare: func(t *testing.T, root, dir string) {
				t.Setenv("HOME", dir)
				writeFile(t, filepath.Join(dir, ".bashrc"), "x")
			},
			wantErr: "a home directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "export")
			must(t, os.MkdirAll(dir, 0o755))
			if tt.exported {
				_, err := Export(three, dir, ExportOptions{})
				require.NoError(t, err)
			}
			tt.prepare(t, root, dir)
			own, found, _ := readOwnership(dir)
			if !found {
				own, _ = legacyOwnership(dir)
			}
			before := snapshot(t, root, dir, own)
			time.Sleep(10 * time.Millisecond) // a rewrite would show in the time
			kept, err := Export(one, dir, ExportOptions{Force: tt.force})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			var keptText []string
			for _, k := range kept {
				keptText = append(keptText, filepath.Base(k.Path)+" "+k.Reason)
			}
			assert.False(t, tt.wantKept != "" && !strings.Contains(strings.Join(keptText, "\n"), tt.wantKept), "kept %v, want %q", keptText, tt.wantKept)
			after := snapshot(t, root, dir, own)
			for path, b := range before {
				a, ok := after[path]
				switch {
				case tt.force && filepath.Dir(path) == dir && (filepath.Base(path) == satellite || filepath.Base(path) == KustomizationFile):
					// --force may overwrite a file of an exported name.
				case !ok:
					assert.Fail(t, fmt.Sprintf("%s removed", path))
				case a != b:
					assert.Fail(t, fmt.Sprintf("%s changed: %+v → %+v", path, b, a))
				}
			}
			for _, name := range tt.wantGone {
				_, err := os.Lstat(filepath.Join(dir, name))
				assert.True(t, os.IsNotExist(err), "%s not removed: %v", name, err)
			}
			if tt.wantAfter != nil {
				tt.wantAfter(t, dir)
			}
		})
	}
}

// TestExportRefusesTheRoot: --dir / writes nothing into /.
func TestExportRefusesTheRoot(t *testing.T) {
	_, err := Export(fixtureNodes(t, 1), "/", ExportOptions{Force: true})
	require.ErrorContains(t, err, "refusing to write into /, the root of the file system", "error")
	_, err = os.Stat("/" + KustomizationFile)
	require.Error(t, err, "kustomization.yaml written into /")
}

// TestExportTwiceIsANoop: a second export of the same plan writes nothing,
// and an export into a repository top that holds an earlier export goes on.
func TestExportTwiceIsANoop(t *testing.T) {
	dir := t.TempDir()
	p := fixtureNodes(t, 2)
	_, err := Export(p, dir, ExportOptions{})
	require.NoError(t, err)
	writeFile(t, filepath.Join(dir, ".git", "HEAD"), "ref: refs/heads/main\n")
	before := snapshot(t, dir, "", ownership{})
	time.Sleep(10 * time.Millisecond)
	_, err = Export(p, dir, ExportOptions{})
	require.NoError(t, err)
	after := snapshot(t, dir, "", ownership{})
	for path, b := range before {
		assert.Equal(t, b, after[path], "%s rewritten", path)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString(text)
	must(t, err)
	must(t, f.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	require.NoError(t, err)
}

// TestExportInterruptedResumes: an export that fails half way (here a
// folder in the way of one file, forced) leaves a record that still owns
// every file it wrote and every stale one; the next export, of yet another
// plan, completes without refusing anything and removes the stale files.
func TestExportInterruptedResumes(t *testing.T) {
	dir := t.TempDir()
	_, err := Export(readFixture(t), dir, ExportOptions{})
	require.NoError(t, err)
	one := relabelled(fixtureNodes(t, 1), "v9")
	blocker := filepath.Join(dir, "storagetopology-default.yaml") // written last: the others are done
	must(t, os.Remove(blocker))
	writeFile(t, filepath.Join(blocker, "in-the-way"), "x")
	_, err = Export(one, dir, ExportOptions{Force: true})
	require.Error(t, err, "export over a non-empty folder succeeded")
	must(t, os.RemoveAll(blocker))
	one = relabelled(fixtureNodes(t, 1), "v10")
	_, err = Export(one, dir, ExportOptions{})
	require.NoError(t, err, "resuming")
	_, err = os.Stat(filepath.Join(dir, "daemonset-piraeus-datastore-linstor-satellite-worker-3.yaml"))
	assert.True(t, os.IsNotExist(err), "stale file left after resuming: %v", err)
	own, _, err := readOwnership(dir)
	must(t, err)
	assert.Len(t, own, len(one)+1, "record holds %d files, want %d", len(own), len(one)+1)
	for name, sums := range own {
		assert.Len(t, sums, 1, "%s: %d sums after a complete export", name, len(sums))
	}
}
