package diagnostics

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// shellReads runs `printf %s WORD` in a real sh and returns what the shell made of WORD.
func shellReads(t testing.TB, word string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", "printf %s "+word).Output()
	if err != nil {
		t.Fatalf("sh -c 'printf %%s %s': %v", word, err)
	}
	return string(out)
}

func TestShellQuote(t *testing.T) {
	for _, s := range []string{
		"", "/etc/nginx-agent/agent.crt", "/srv/my certs/agent.crt", "it's", "''", `a\b`, "$HOME",
		"$(id)", "`id`", "a;b&c|d", "*.key", "[::1]:443", "~root", "#x", "a\nb", "\t", "-n", "é ü", `"q"`,
	} {
		q := shellQuote(s)
		if got := shellReads(t, q); got != s {
			t.Errorf("shellQuote(%q) = %s, which sh reads as %q", s, q, got)
		}
	}
	if got := shellQuote("/etc/nginx-agent/agent.crt"); got != "/etc/nginx-agent/agent.crt" {
		t.Errorf("a plain path is quoted: %s", got)
	}
}

func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{"", "it's", "/a b/c", "$(x)`y`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			return // no shell word can hold NUL, and no path either
		}
		if got := shellReads(t, shellQuote(s)); got != s {
			t.Errorf("shellQuote(%q) = %s, which sh reads as %q", s, shellQuote(s), got)
		}
	})
}

// checkedShell caches commands that already passed `sh -n`: runCases checks every
// playbook of every check for each case, mostly the same commands.
var checkedShell sync.Map

// checkShellSyntax fails when sh cannot parse a command: POSIX sh, no bash-isms, quotes
// balanced.
func checkShellSyntax(t *testing.T, id string, commands []string) {
	t.Helper()
	for _, c := range commands {
		if _, ok := checkedShell.Load(c); ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, "sh", "-n", "-c", c).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s: sh -n rejects %q: %v %s", id, c, err, out)
			continue
		}
		checkedShell.Store(c, true)
	}
}

// hostileDir holds a space and a single quote: unquoted in a command, it splits a word or
// leaves a quote open, and its raw text never appears inside a shellQuote'd word.
const hostileDir = "/srv/it's a dir"

var hostileText = regexp.MustCompile(`it's a dir`)

// TestPlaybooksQuoteHostPaths gives the agent and NGINX paths and names with a space and a
// quote and runs every playbook: each command must parse in sh and carry those values
// only quoted.
func TestPlaybooksQuoteHostPaths(t *testing.T) {
	p := newPKI(t)
	agentSide := healthyFacts(p)
	a := agentSide.Agent
	a.Path = hostileDir + "/nginx-agent.conf"
	a.DynamicPath = hostileDir + "/agent-dynamic.conf"
	a.Cert.Value, a.Key.Value, a.CA.Value = hostileDir+"/agent.crt", hostileDir+"/agent.key", hostileDir+"/ca.pem"
	a.Host.Value, a.ServerName.Value = "nim it's a dir", "nim it's a dir"
	agentSide.Endpoint.VerifyName = a.ServerName.Value
	agentSide.Files.Cert.Path, agentSide.Files.Key.Path, agentSide.Files.CA.Path = a.Cert.Value, a.Key.Value, a.CA.Value

	files := healthyFiles(p)
	moved := testFiles{tls: map[string]*probes.FileFacts{}, crls: map[string]*probes.CRLFacts{}}
	for path, ff := range files.tls {
		np := strings.Replace(path, "/etc/nms/certs", hostileDir, 1)
		ff.Path = np
		moved.tls[np] = ff
	}
	for path, c := range files.crls {
		np := strings.Replace(path, "/etc/nms/certs", hostileDir, 1)
		c.Path = np
		moved.crls[np] = c
	}
	conf := regexp.MustCompile(`/etc/nms/certs/(\S+);`).ReplaceAllString(healthyConf, `"`+hostileDir+`/$1";`)
	managerSide := healthyFacts(p)
	managerSide.Nginx = nginxFacts(conf, moved)
	managerSide.Nginx.Main, managerSide.Nginx.Prefix, managerSide.Nginx.Explicit = hostileDir+"/nginx.conf", hostileDir, true
	if len(managerSide.Nginx.Servers) == 0 || managerSide.Nginx.Servers[0].ClientCA == nil {
		t.Fatalf("the hostile nginx.conf did not parse into a server with a client CA")
	}

	commands := 0
	for _, c := range []Catalog{DefaultCatalog(), MeshCatalog()} {
		for _, ch := range c {
			if ch.Fix == nil {
				continue
			}
			for name, f := range map[string]*Facts{"agent": agentSide, "manager": managerSide} {
				for _, st := range ch.Fix(f, Result{}) {
					checkShellSyntax(t, ch.ID, st.Commands)
					for _, cmd := range st.Commands {
						commands++
						if hostileText.MatchString(cmd) {
							t.Errorf("%s (%s facts): a host value is not quoted in %q", ch.ID, name, cmd)
						}
					}
				}
			}
		}
	}
	if commands < 100 {
		t.Errorf("only %d commands checked: the facts no longer reach the playbooks", commands)
	}
}
