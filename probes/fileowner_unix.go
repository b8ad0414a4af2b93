//go:build unix

package probes

import (
	"io/fs"
	"syscall"
)

// fileOwner returns the file's owner and group IDs.
func fileOwner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}
