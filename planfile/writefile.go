package planfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/google/renameio/v2"
)

// WriteFile replaces the regular file at path with data atomically: data
// goes to a temporary file in the same folder, which is renamed over the
// file only once complete, so an interrupted write never leaves a
// half-written file. A symbolic link is followed (the file it names is
// replaced, the link stays); a file that already holds exactly data is not
// rewritten. A path that is not a regular file (/dev/stdout, a named pipe)
// is written to directly.
func WriteFile(path string, data []byte) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	info, err := os.Stat(path)
	switch {
	case err == nil && !info.Mode().IsRegular():
		return writeStream(path, data)
	case err == nil:
		if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
			return nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return writeInDir(filepath.Dir(path), filepath.Base(path), data)
}

// writeInDir replaces dir/name with data atomically (renameio: a
// temporary file in dir, synced, renamed over dir/name once complete), never
// following a symbolic link at dir/name.
func writeInDir(dir, name string, data []byte) error {
	return renameio.WriteFile(filepath.Join(dir, name), data, 0o644, renameio.WithStaticPermissions(0o644))
}

// writeStream writes data to something that is not a regular file. A named
// pipe no process reads from is an error, not a wait.
func writeStream(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ENXIO) {
		return fmt.Errorf("open %s: no process reads from it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
