package rundir

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// errNoSpace is ENOSPC, which a full disk gives.
var errNoSpace = syscall.ENOSPC

// writeFault, when set, replaces the data write of WriteFile (SetWriteFault).
var writeFault func(w io.Writer, data []byte) error

// SetWriteFault makes every WriteFile call write through fault instead of writing its data (fault
// injection for tests of a full disk or a failing device: fault may write part of data and return
// syscall.ENOSPC); it returns the function that removes it. Not safe while other goroutines write.
func SetWriteFault(fault func(w io.Writer, data []byte) error) (restore func()) {
	writeFault = fault
	return func() { writeFault = nil }
}

// WriteFile writes data to path atomically: a reader sees the old file or the new one, never a
// part, and after it returns the new file survives a power cut. See WriteWith.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteWith(path, perm, func(w io.Writer) error {
		if writeFault != nil {
			return writeFault(w, data)
		}
		_, err := w.Write(data)
		return err
	})
}

// WriteJSON writes v to path as indented JSON with a final newline, atomically (WriteFile): the
// form of every JSON record of a run or sweep directory.
func WriteJSON(path string, v any, perm os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(path, append(data, '\n'), perm)
}

// WriteWith is the one atomic writer of the project: write streams the content into a temporary
// file beside path, which is fsynced, given perm, renamed over path, and then the directory is
// fsynced so that the rename itself is durable. On any error the temporary file is removed, the
// old path is left as it was, and the error says what happened (a full disk says so).
func WriteWith(path string, perm os.FileMode, write func(w io.Writer) error) error {
	dir, name := filepath.Dir(path), filepath.Base(path)
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return fmt.Errorf("rundir: writing %s: %s is a file, not a directory", path, dir)
		}
		return fmt.Errorf("rundir: writing %s: %w", path, explain(err))
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 1<<20)
	werr := write(bw)
	if werr == nil {
		werr = bw.Flush()
	}
	if werr == nil {
		werr = f.Chmod(perm)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("rundir: writing %s: %w", path, explain(werr))
	}
	if d, err := os.Open(dir); err == nil {
		serr := d.Sync()
		d.Close()
		if serr != nil && !isUnsupported(serr) {
			return fmt.Errorf("rundir: syncing directory %s after writing %s: %w", dir, name, serr)
		}
	}
	return nil
}

// isUnsupported reports errors of file systems that cannot fsync a directory.
func isUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP)
}
