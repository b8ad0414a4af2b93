//go:build !unix

package playbook

import "os/exec"

// setProcessGroup is a no-op where there are no process groups; ctx still kills the shell.
func setProcessGroup(*exec.Cmd) {}
