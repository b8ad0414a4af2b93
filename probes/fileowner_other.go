//go:build !unix

package probes

import "io/fs"

// fileOwner returns -1, -1: this platform has no Unix owner IDs.
func fileOwner(fs.FileInfo) (uid, gid int) { return -1, -1 }
