package diagnostics

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/internal/stepshim"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// The rules every fix step keeps (issue 9): it can be executed as shown, by /bin/sh, on
// the host it names, and it says what it changes, what the user must fill in, and which
// checks prove it.

// interactive are commands that wait for a person: an editor, or a pager-like tool.
var interactive = regexp.MustCompile(`(^|[;&|(]\s*|sudo\s+)(sudoedit|vi|vim|nano|less|more)\b|systemctl edit\b`)

// bashOnly are constructs POSIX sh does not have (process substitution, [[ ]], $'…').
var bashOnly = regexp.MustCompile(`<\(|>\(|\[\[\s|(^|\s)\$'`)

// writes are commands that change a file: the step must list what it changes.
var writes = regexp.MustCompile(`\bsed -i\b|\btee\b|\bcp\b|\bmv\b|\binstall\b|\bchmod\b|\bchown\b|\bln -s|(^|[^0-9&])>>?\s*[^&/\s]|>\s*'|-out\s`)

// defaultManagerPath matches paths a step must not name unless they are the files judged.
var defaultManagerPath = regexp.MustCompile(`(/etc/nginx/|/var/log/nginx/|/etc/nms/|/var/log/nms/)[^\s'"|;)]*`)

// checkStepRules asserts the executable-step rules on one step. judged holds every path
// the facts name; a default manager path outside it is a guess.
func checkStepRules(t *testing.T, id string, i int, st Step, judged map[string]bool) {
	t.Helper()
	where := func() string { return fmt.Sprintf("%s step %d %q", id, i+1, st.Title) }
	switch {
	case st.Host == HostAgent || st.Host == HostManager || st.Host == HostUpstream || st.Host == HostCluster:
	case st.Host == "" && strings.HasPrefix(id, "upstream-"):
		// The front's own steps run on the host judged, which need not serve agents.
	default:
		t.Errorf("%s: Host %q, want agent, manager, upstream or cluster (or the host judged for an upstream link's front)", where(), st.Host)
	}
	if len(st.Verify) == 0 {
		t.Errorf("%s: no Verify", where())
	}
	wrote := false
	for _, c := range st.Commands {
		if m := interactive.FindString(c); m != "" {
			t.Errorf("%s: interactive command %q in %q", where(), m, c)
		}
		if m := bashOnly.FindString(c); m != "" {
			t.Errorf("%s: not POSIX sh (%q) in %q", where(), m, c)
		}
		if strings.Contains(c, "systemctl status") {
			t.Errorf("%s: systemctl status exits 3 for a stopped unit: %q", where(), c)
		}
		if strings.Contains(c, "mtls-doctor explain "+id) {
			t.Errorf("%s: points back at itself: %q", where(), c)
		}
		if writes.MatchString(placeholderPattern().ReplaceAllString(c, "X")) {
			wrote = true
		}
		for _, loc := range placeholderPattern().FindAllStringIndex(c, -1) {
			name := c[loc[0]:loc[1]]
			if _, ok := inputPrompts[name]; !ok {
				t.Errorf("%s: placeholder %s has no prompt in inputPrompts", where(), name)
			}
			if strings.Count(c[:loc[0]], "'")%2 == 0 {
				t.Errorf("%s: placeholder %s is not inside a quoted word in %q", where(), name, c)
			}
			declared := false
			for _, in := range st.Inputs {
				declared = declared || in.Name == name
			}
			if !declared {
				t.Errorf("%s: placeholder %s is not declared in Inputs", where(), name)
			}
		}
		for _, p := range defaultManagerPath.FindAllString(c, -1) {
			// A file the step writes beside a judged one (a request, a backup) is the host's too.
			beside := slices.Contains(st.Changes, p) && slices.ContainsFunc(slices.Collect(maps.Keys(judged)), func(j string) bool {
				return j != "" && filepath.Dir(j) == filepath.Dir(p)
			})
			if !judged[strings.TrimSuffix(strings.TrimSuffix(p, ".bak"), ".new")] && !beside {
				t.Errorf("%s: names %s, which was not judged, in %q", where(), p, c)
			}
		}
	}
	if c, bad := stepshim.ReloadWithoutTest(st.Commands); bad {
		t.Errorf("%s: reloads or restarts NGINX without an nginx -t of that configuration before it: %q in %q", where(), c, st.Commands)
	}
	// A step that writes only files the user names (placeholders, on another host) lists
	// none: Changes are the files judged that an apply backs up.
	if wrote && len(st.Changes) == 0 && namesJudged(st, judged) {
		t.Errorf("%s: commands write files but Changes is empty: %q", where(), st.Commands)
	}
	for _, ch := range st.Changes {
		// A file only the user can name is one of the step's Inputs, not a file judged.
		if placeholderPattern().MatchString(ch) {
			t.Errorf("%s: Changes names %s, a placeholder and not a file that was judged", where(), ch)
		}
		if !strings.Contains(strings.Join(st.Commands, "\n"), shellQuote(ch)) {
			t.Errorf("%s: Changes names %s, which no command names", where(), ch)
		}
	}
}

// namesJudged reports whether st's commands name a file judged (an absolute path of the
// facts, as a shell word).
func namesJudged(st Step, judged map[string]bool) bool {
	all := strings.Join(st.Commands, "\n")
	for p := range judged {
		if filepath.IsAbs(p) && len(p) > 1 && strings.Contains(all, shellQuote(p)) {
			return true
		}
	}
	return false
}

// judgedPaths are the files the facts name: the agent's configuration and TLS files, and
// NGINX's configuration files and the files its directives name.
func judgedPaths(f *Facts) map[string]bool {
	out := map[string]bool{}
	if f == nil {
		return out
	}
	if a := f.Agent; a != nil {
		for _, p := range []string{a.Path, a.DynamicPath, a.Cert.Value, a.Key.Value, a.CA.Value, a.LogPath.Value} {
			out[p] = true
		}
	}
	if n := f.Nginx; n != nil {
		out[n.Main] = true
		for _, e := range n.Errors {
			out[e.File] = true
		}
		if n.Test != nil && n.Test.Error != nil {
			out[n.Test.Error.File] = true
		}
		for _, p := range n.Files {
			out[p] = true
		}
		if n.Config != nil {
			n.Config.Walk(func(d *nginxconf.Directive) bool {
				for _, a := range d.Args {
					out[a] = true
				}
				return true
			})
		}
		for _, s := range n.Servers {
			for _, ff := range append(append([]*probes.FileFacts{s.ClientCA, s.TrustedCA}, s.Certs...), s.Keys...) {
				if ff != nil {
					out[ff.Path] = true
				}
			}
			for _, l := range s.ErrorLogs {
				out[l.Target] = true
			}
			if s.CRL != nil {
				out[s.CRL.Path] = true
			}
		}
	}
	return out
}

// TestPlaybookRules builds every playbook for a host with nothing known (explain), for an
// agent host and for a host that is also the manager, and holds each step to the rules.
func TestPlaybookRules(t *testing.T) {
	p := newPKI(t)
	agent := healthyFacts(p)
	manager := healthyFacts(p)
	manager.Nginx = healthyNginx(p)
	for _, c := range []Catalog{DefaultCatalog(), MeshCatalog()} {
		for _, ch := range c {
			for name, f := range map[string]*Facts{"empty": {}, "agent": agent, "manager": manager} {
				judged := judgedPaths(f)
				for i, st := range ch.playbook(f, Result{}) {
					t.Run(ch.ID+"/"+name, func(t *testing.T) { checkStepRules(t, ch.ID, i, st, judged) })
				}
			}
		}
	}
}
