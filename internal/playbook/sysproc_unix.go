//go:build unix

package playbook

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the command's shell in a process group of its own, so a timeout
// kills what it started (a pipeline, an openssl waiting on a socket) along with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
