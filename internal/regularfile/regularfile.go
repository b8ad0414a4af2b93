// Package regularfile opens files that must be regular files (TLS files, configuration,
// logs) without ever blocking: open(2) of a FIFO without a writer waits for one, for ever
// and whatever signal arrives, and a device such as /dev/zero never ends. It imports
// nothing of mtls-doctor's, so every reader shares it.
package regularfile

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is the error for a FIFO, socket or device; its text is what the agent
// configuration's reader has always said.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading, following symlinks, and returns an error wrapped in an
// *fs.PathError for anything but a regular file: syscall.EISDIR for a directory,
// ErrNotRegular for the rest. The open is non-blocking (O_NONBLOCK, see open(2) and
// fifo(7)), so a FIFO is refused at once instead of waiting for a writer; the descriptor's
// type is taken with fstat, so the file cannot be swapped between a stat and the open.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	switch {
	case st.IsDir():
		f.Close()
		return nil, &fs.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
	case !st.Mode().IsRegular():
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: ErrNotRegular}
	}
	// O_NONBLOCK changes nothing for a regular file's reads (open(2)), so f reads as an
	// os.Open'd file does.
	return f, nil
}
