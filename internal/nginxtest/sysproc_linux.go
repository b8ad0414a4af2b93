package nginxtest

import "syscall"

// sysProcAttr makes the kernel kill NGINX when the test process dies, so a test binary
// killed by its timeout leaves no NGINX behind holding a port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
