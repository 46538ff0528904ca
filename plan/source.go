package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Source is one input file (or stdin, or a document fetched from a cluster).
type Source struct {
	// Name shown in error messages: the path, "-" for stdin, or "cluster:<kind>".
	Name string
	// Data is the YAML or JSON content, possibly several documents.
	Data []byte
}

// inputExtensions are the file name endings a directory walk picks up.
var inputExtensions = []string{".yaml", ".yml", ".json"}

// ReadSources reads every path: a file, a directory (recursively, files
// ending in .yaml, .yml or .json, in sorted order), or "-" for stdin.
//
// Only regular files are read, so nothing can block or grow without end: a
// path given explicitly that is something else (a named pipe, a device) is
// an error; inside a directory such entries are skipped with a warning.
// Symbolic links are followed, into directories too, as `kubectl apply -R`
// users expect; a link that leads back into a directory being read, or to a
// directory or file already read, is skipped with a warning. Each file and
// stdin may hold at most MaxInputBytes. Reading stdin ends when ctx does.
//
// The warnings have the shape of input errors; pass them on in
// LoadOptions.Warnings so they reach Model.Warnings.
func ReadSources(ctx context.Context, paths []string, stdin io.Reader) ([]Source, ErrorList, error) {
	r := &sourceReader{ctx: ctx, stdin: stdin, seen: map[fileID]string{}}
	for _, p := range paths {
		if err := r.readPath(p); err != nil {
			return nil, nil, err
		}
	}
	return r.out, r.warnings.sorted(), nil
}

// sourceReader carries the state of one ReadSources call.
type sourceReader struct {
	ctx      context.Context
	stdin    io.Reader
	out      []Source
	warnings ErrorList
	// seen maps every directory and file read so far to the path it was read as.
	seen map[fileID]string
}

// fileID identifies a file or directory whatever the path to it.
type fileID struct{ dev, ino uint64 }

func idOf(info fs.FileInfo) (fileID, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true //nolint:unconvert // Dev is not uint64 on every platform
}

func (r *sourceReader) readPath(p string) error {
	if p == "-" {
		data, err := readStdin(r.ctx, r.stdin)
		if err != nil {
			return err
		}
		r.out = append(r.out, Source{Name: "-", Data: data})
		return nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	switch {
	case info.IsDir():
		return r.readDir(p, info)
	case !info.Mode().IsRegular():
		return fmt.Errorf("read %s: %s, not a regular file; -f takes files, folders or - for stdin", p, fileKind(info.Mode()))
	}
	return r.readFile(p, info)
}

// readDir reads the input files under dir, following symbolic links.
func (r *sourceReader) readDir(dir string, info fs.FileInfo) error {
	var files []string
	infos := map[string]fs.FileInfo{}
	if id, ok := idOf(info); ok {
		r.seen[id] = dir
	}
	err := r.walk(dir, []fs.FileInfo{info}, func(path string, fi fs.FileInfo) {
		files = append(files, path)
		infos[path] = fi
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		if err := r.readFile(f, infos[f]); err != nil {
			return err
		}
	}
	return nil
}

// walk calls found for every input file under dir. ancestors are the
// directories from the walk's root down to dir, for loop detection.
func (r *sourceReader) walk(dir string, ancestors []fs.FileInfo, found func(string, fs.FileInfo)) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", dir, err)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path) // follows symbolic links
		if err != nil {
			r.warn(path, fmt.Sprintf("skipped: %v", errors.Unwrap(err)))
			continue
		}
		switch {
		case info.IsDir():
			if err := r.enterDir(path, info, ancestors, found); err != nil {
				return err
			}
		case !hasInputExtension(path):
		case !info.Mode().IsRegular():
			r.warn(path, fmt.Sprintf("skipped: %s, not a regular file; only regular files are read from folders", fileKind(info.Mode())))
		default:
			found(path, info)
		}
	}
	return nil
}

// enterDir walks a subdirectory unless it closes a loop of symbolic links
// or was read already through another path.
func (r *sourceReader) enterDir(path string, info fs.FileInfo, ancestors []fs.FileInfo, found func(string, fs.FileInfo)) error {
	for _, a := range ancestors {
		if os.SameFile(a, info) {
			r.warn(path, "skipped: a symbolic link loop back to a folder being read")
			return nil
		}
	}
	if id, ok := idOf(info); ok {
		if first, dup := r.seen[id]; dup {
			r.warn(path, fmt.Sprintf("skipped: the same folder as %s, read already", first))
			return nil
		}
		r.seen[id] = path
	}
	return r.walk(path, append(ancestors, info), found)
}

// readFile reads one regular file, at most MaxInputBytes, once.
func (r *sourceReader) readFile(path string, info fs.FileInfo) error {
	if id, ok := idOf(info); ok {
		if first, dup := r.seen[id]; dup {
			r.warn(path, fmt.Sprintf("skipped: the same file as %s, read already", first))
			return nil
		}
		r.seen[id] = path
	}
	data, err := ReadInputFile(path)
	if err != nil {
		return err
	}
	r.out = append(r.out, Source{Name: path, Data: data})
	return nil
}

func (r *sourceReader) warn(path, msg string) {
	r.warnings = append(r.warnings, &Error{Pos: Position{Source: path}, Message: msg})
}

// ReadInputFile reads a regular file of at most MaxInputBytes. It never
// blocks on a named pipe or device: those are refused, as is a file that
// grows past the limit while it is read.
func ReadInputFile(path string) ([]byte, error) {
	// Devices are not even opened: opening some has side effects.
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: %s, not a regular file", path, fileKind(info.Mode()))
	}
	// O_NONBLOCK: should the file be swapped for a named pipe after it was
	// checked, opening it must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: %s, not a regular file", path, fileKind(info.Mode()))
	}
	if info.Size() > MaxInputBytes {
		return nil, fmt.Errorf("read %s: %d bytes, more than the input limit of %d MiB; split it into several files", path, info.Size(), MaxInputBytes>>20)
	}
	return readLimited(f, path)
}

// readStdin reads all of stdin (at most MaxInputBytes); it returns as soon
// as ctx ends, even while stdin blocks (a terminal, a pipe no one writes to).
func readStdin(ctx context.Context, stdin io.Reader) ([]byte, error) {
	if stdin == nil {
		return nil, errors.New("read stdin: no standard input")
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := readLimited(stdin, "stdin")
		done <- result{data, err}
	}()
	select {
	case <-ctx.Done():
		// The reading goroutine stays blocked until the process ends; the
		// command is over anyway.
		return nil, fmt.Errorf("read stdin: %w", context.Cause(ctx))
	case res := <-done:
		return res.data, res.err
	}
}

// readLimited reads r to the end, failing beyond MaxInputBytes.
func readLimited(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxInputBytes {
		return nil, fmt.Errorf("read %s: more than the input limit of %d MiB; split it into several files", name, MaxInputBytes>>20)
	}
	return data, nil
}

// fileKind names a file type the way a user thinks of it.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "a special file"
}

func hasInputExtension(path string) bool {
	for _, ext := range inputExtensions {
		if strings.HasSuffix(strings.ToLower(path), ext) {
			return true
		}
	}
	return false
}
