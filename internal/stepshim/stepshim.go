// Package stepshim runs fix steps verbatim in a test sandbox, as a user pasting them
// into /bin/sh would: sudo, systemctl, journalctl, timedatectl and (optionally) nginx are
// small shims first on PATH, so a step neither needs root nor touches the machine's
// services, and what it asked of systemd or of NGINX is left for the test to carry out.
// NewCluster adds kubectl, helm and nginx-meshctl for the mesh's steps. Tests only: it
// imports "testing".
package stepshim

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// commandTimeout bounds one command of a step.
const commandTimeout = 20 * time.Second

// Sandbox is a PATH with the shims first and the marks they leave.
type Sandbox struct {
	// Path is the PATH the steps run with.
	Path       string
	reloadMark string
	unitsMark  string
}

// New writes the shims into a temporary directory of t: sudo runs its arguments as the
// test's user; systemctl records the units it is asked to start, restart or reload (Units);
// journalctl and timedatectl do nothing; when nginx is the real binary's path, nginx runs
// it except that `nginx -s reload` only records the request (Reloaded), since a test's
// NGINX runs with master_process off and cannot reconfigure in place.
func New(t testing.TB, nginx string) *Sandbox {
	t.Helper()
	bin := t.TempDir()
	s := &Sandbox{reloadMark: filepath.Join(bin, "reload-requested"), unitsMark: filepath.Join(bin, "units-started")}
	shims := map[string]string{
		"sudo":        "#!/bin/sh\nexec \"$@\"\n",
		"systemctl":   "#!/bin/sh\ncase \"$1\" in start|restart|reload) shift; printf '%s\\n' \"$@\" >>" + quote(s.unitsMark) + ";; esac\nexit 0\n",
		"journalctl":  "#!/bin/sh\nexit 0\n",
		"timedatectl": "#!/bin/sh\nexit 0\n",
	}
	if nginx != "" {
		shims["nginx"] = "#!/bin/sh\ncase \" $* \" in *\" -s reload \"*) : >" + quote(s.reloadMark) + "; exit 0;; esac\nexec " +
			quote(nginx) + " \"$@\"\n"
	}
	for name, body := range shims {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.Path = bin + string(os.PathListSeparator) + os.Getenv("PATH")
	return s
}

// Reloaded reports whether a step ran `nginx -s reload` since the last call.
func (s *Sandbox) Reloaded() bool {
	if _, err := os.Stat(s.reloadMark); err != nil {
		return false
	}
	os.Remove(s.reloadMark)
	return true
}

// Units are the units a step asked systemctl to start, restart or reload since the last call,
// without a ".service" suffix.
func (s *Sandbox) Units() []string {
	data, err := os.ReadFile(s.unitsMark)
	if err != nil {
		return nil
	}
	os.Remove(s.unitsMark)
	var units []string
	for _, u := range strings.Fields(string(data)) {
		units = append(units, strings.TrimSuffix(u, ".service"))
	}
	return units
}

// Run runs each command with /bin/sh -c on the sandbox's PATH, the placeholders of inputs
// filled first. A placeholder sits inside a single-quoted word of the command, so a
// value's own single quote is escaped. It stops at the first command that fails.
func (s *Sandbox) Run(commands []string, inputs map[string]string) error {
	for _, c := range commands {
		c = Fill(c, inputs)
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c)
		cmd.Env = append(os.Environ(), "PATH="+s.Path)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("%q: %v: %s", c, err, out)
		}
	}
	return nil
}

// Fill replaces each placeholder of inputs in command with its value, escaped for a
// single-quoted shell word.
func Fill(command string, inputs map[string]string) string {
	for name, v := range inputs {
		command = strings.ReplaceAll(command, name, strings.ReplaceAll(v, "'", `'\''`))
	}
	return command
}

// quote single-quotes s for a shim's body.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
