package diagnostics

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// shimPath is a PATH whose sudo runs its arguments as the test's user and whose
// systemctl does nothing, so that steps run verbatim in a sandbox.
func shimPath(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for name, body := range map[string]string{
		"sudo":      "#!/bin/sh\nexec \"$@\"\n",
		"systemctl": "#!/bin/sh\nexit 0\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin + string(os.PathListSeparator) + os.Getenv("PATH")
}

// runStep runs each command of st with /bin/sh -c, as a user pasting them would.
func runStep(t *testing.T, st Step, path string, inputs map[string]string) {
	t.Helper()
	for _, c := range st.Commands {
		for name, v := range inputs {
			c = strings.ReplaceAll(c, name, strings.ReplaceAll(v, "'", `'\''`))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c)
		cmd.Env = append(os.Environ(), "PATH="+path)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%q: %v\n%s", c, err, out)
		}
	}
}

// loadAgent reads the agent configuration at path as mtls-doctor does.
func loadAgent(t *testing.T, path string) *probes.AgentConfig {
	t.Helper()
	a := probes.LoadAgentConfig(probes.AgentConfigOptions{Path: path, WorkDir: filepath.Dir(path), DynamicPaths: []string{}, Env: []string{}})
	if a.Error != nil {
		t.Fatalf("%s: %v", path, a.Error)
	}
	return &a
}

// TestEditStepRuns runs editStep's commands on real agent configuration files and reads
// them back: values on known lines are rewritten, missing keys join their siblings, a
// missing block is appended, and the file stays valid YAML with a backup beside it.
func TestEditStepRuns(t *testing.T) {
	path := shimPath(t)
	cases := []struct {
		name, conf string
		edits      []edit
		want       map[agentKeyID]string
	}{
		{
			name: "v2 rewrite and insert",
			conf: "server:\n  host: 10.0.0.5\n  grpcPort: 443\ntls:\n  enable: true\n  cert: /old/agent.crt  # issued 2024\n  key: /old/agent.key\n",
			edits: []edit{{setServerName, "nim.example.com"}, {setCert, "/new dir/agent.crt"},
				{setCA, "/etc/ca's.pem"}, {setSkipVerify, "false"}},
			want: map[agentKeyID]string{setServerName: "nim.example.com", setCert: "/new dir/agent.crt", setCA: "/etc/ca's.pem",
				setSkipVerify: "false", setHost: "10.0.0.5", setKey: "/old/agent.key"},
		},
		{
			name:  "v2 block appended",
			conf:  "server:\n  host: nim.example.com\n  grpcPort: 443\n",
			edits: []edit{{setTLSEnable, "true"}, {setCert, "/a.crt"}, {setKey, "/a.key"}},
			want:  map[agentKeyID]string{setTLSEnable: "true", setCert: "/a.crt", setKey: "/a.key", setPort: "443"},
		},
		{
			name:  "v3 nested",
			conf:  "command:\n    server:\n        host: one.example.com\n        port: 443\n    tls:\n        cert: /a.crt\n",
			edits: []edit{{setServerName, "one.example.com"}, {setCA, "/ca.pem"}, {setCert, "/b.crt"}},
			want:  map[agentKeyID]string{setServerName: "one.example.com", setCA: "/ca.pem", setCert: "/b.crt", setHost: "one.example.com"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "nginx-agent.conf")
			if err := os.WriteFile(file, []byte(tc.conf), 0o640); err != nil {
				t.Fatal(err)
			}
			h := hostOf(&Facts{Agent: loadAgent(t, file)})
			st := h.editStep("edit", "", []string{"agent-config-invalid"}, tc.edits...)
			if st.Manual != "" {
				t.Fatalf("step is manual: %s", st.Manual)
			}
			runStep(t, st, path, nil)
			got := hostOf(&Facts{Agent: loadAgent(t, file)})
			for s, want := range tc.want {
				if v := got.current(s).Value; v != want {
					data, _ := os.ReadFile(file)
					t.Errorf("%s = %q, want %q; file:\n%s", got.keyName(s), v, want, data)
				}
			}
			if bak, err := os.ReadFile(file + ".bak"); err != nil || string(bak) != tc.conf {
				t.Errorf("backup: %v %q", err, bak)
			}
			if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("mode changed: %v %v", fi.Mode(), err)
			}
		})
	}
}
