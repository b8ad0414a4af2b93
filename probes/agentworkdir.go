package probes

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// AgentWorkDir is the directory the agent resolves relative paths against, and how it
// was found.
type AgentWorkDir struct {
	// Dir is absolute.
	Dir string `json:"dir"`
	// Why says where Dir comes from, for evidence: "the working directory of the running
	// nginx-agent (pid 812)", "WorkingDirectory= in /etc/systemd/system/nginx-agent.service:9",
	// "systemd's default: no running nginx-agent or unit names another".
	Why string `json:"why"`
}

// WorkDirOptions say where FindAgentWorkDir looks; the zero value looks on this host.
type WorkDirOptions struct {
	// ProcRoot is procfs (default /proc).
	ProcRoot string
	// Units are the agent's systemd unit file and its drop-ins, in the order systemd
	// applies them; nil means SystemdUnitPaths.
	Units []string
}

// agentProcName is the running agent's process name (/proc/PID/comm) for v2 and v3.
const agentProcName = "nginx-agent"

// maxProcScan bounds the processes FindAgentWorkDir reads.
const maxProcScan = 1 << 16

// SystemdUnitPaths are where the agent's packages and administrators put its unit and
// drop-ins, in systemd's order of precedence (systemd.unit(5), "Unit File Load Path"):
// the first unit file found is used, then every drop-in after it.
func SystemdUnitPaths() []string {
	var out []string
	for _, dir := range []string{"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"} {
		out = append(out, filepath.Join(dir, "nginx-agent.service"))
	}
	for _, dir := range []string{"/usr/lib/systemd/system", "/run/systemd/system", "/etc/systemd/system"} {
		more, _ := filepath.Glob(filepath.Join(dir, "nginx-agent.service.d", "*.conf"))
		out = append(out, more...)
	}
	return out
}

// FindAgentWorkDir finds the working directory of the agent that reads configPath ("" for
// the agent's own search): a running nginx-agent's /proc/PID/cwd when its command line
// names that file, or names none and the file is one the agent finds on its own; else the
// WorkingDirectory= of its systemd unit; else "/", systemd's default.
func FindAgentWorkDir(configPath string, o WorkDirOptions) AgentWorkDir {
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if d, ok := runningAgentDir(configPath, o.ProcRoot); ok {
		return d
	}
	units := o.Units
	if units == nil {
		units = SystemdUnitPaths()
	}
	if d, ok := unitWorkDir(units); ok {
		return d
	}
	return AgentWorkDir{Dir: "/", Why: "systemd's default for services: no running nginx-agent or unit names another"}
}

// runningAgentDir reads the working directory of the running agent that reads configPath.
func runningAgentDir(configPath, procRoot string) (AgentWorkDir, bool) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return AgentWorkDir{}, false
	}
	for i, e := range entries {
		if i == maxProcScan {
			break
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != agentProcName {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !readsConfig(bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0}), configPath) {
			continue
		}
		cwd, err := os.Readlink(filepath.Join(dir, "cwd"))
		if err != nil || !filepath.IsAbs(cwd) {
			continue // another user's process: run as root to see it
		}
		return AgentWorkDir{Dir: cwd, Why: "the working directory of the running nginx-agent (pid " + e.Name() + ")"}, true
	}
	return AgentWorkDir{}, false
}

// readsConfig reports whether an agent started with args reads configPath: its command
// line names the file, or names no configuration file and configPath is one the agent
// finds by itself (or "", the search).
func readsConfig(args [][]byte, configPath string) bool {
	named := false
	for _, a := range args[min(1, len(args)):] {
		v := string(a)
		if _, after, ok := strings.Cut(v, "="); ok && strings.HasPrefix(v, "-") {
			v = after
		}
		if strings.HasSuffix(v, ".conf") || strings.HasSuffix(v, ".yaml") || strings.HasSuffix(v, ".yml") {
			named = true
			if configPath != "" && filepath.Clean(v) == filepath.Clean(configPath) {
				return true
			}
		}
	}
	if named {
		return false
	}
	if configPath == "" {
		return true
	}
	for _, p := range defaultAgentSearchPaths {
		if filepath.Clean(configPath) == p {
			return true
		}
	}
	return false
}

// unitWorkDir reads WorkingDirectory= from the unit files: the first unit file that
// exists, then its drop-ins, the last setting winning as systemd applies them.
func unitWorkDir(units []string) (AgentWorkDir, bool) {
	var out AgentWorkDir
	found, unitSeen := false, false
	for _, path := range units {
		isDropIn := strings.HasSuffix(path, ".conf")
		if !isDropIn && unitSeen {
			continue
		}
		data, err := readConfigFile(path)
		if err != nil {
			continue
		}
		if !isDropIn {
			unitSeen = true
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		section, n := "", 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "[") {
				section = line
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok || section != "[Service]" || strings.TrimSpace(k) != "WorkingDirectory" {
				continue
			}
			// "-" ignores a missing directory; "~" is the user's home, unknown here.
			v = strings.TrimPrefix(strings.TrimSpace(v), "-")
			switch {
			case v == "":
				out, found = AgentWorkDir{}, false // an empty assignment resets it
			case filepath.IsAbs(v):
				out, found = AgentWorkDir{Dir: filepath.Clean(v), Why: "WorkingDirectory= in " + path + ":" + strconv.Itoa(n)}, true
			}
		}
	}
	return out, found
}
