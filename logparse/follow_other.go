//go:build !unix

package logparse

import "os"

// openNonBlock: opening a named pipe does not block outside Unix.
const openNonBlock = 0

// linked cannot tell a renamed file from a removed one without a link count: renamed.
func linked(*os.File) bool { return true }
