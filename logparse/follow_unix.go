//go:build unix

package logparse

import (
	"os"
	"syscall"
)

// linked reports whether f still has a name: a renamed file has, a removed one has not.
func linked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return !ok || st.Nlink > 0
}
