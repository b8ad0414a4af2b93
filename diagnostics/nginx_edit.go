package diagnostics

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// reloadNginxFor is how the manager playbooks end: test, then reload the running NGINX —
// the one whose configuration was judged, so a --nginx-config outside nginx's default
// paths is named with -c (nginx -s reload -c reads that configuration's pid file), and a
// --nginx-prefix with -p.
func reloadNginxFor(f *Facts) string {
	var args string
	if f != nil && f.Nginx != nil {
		n := f.Nginx
		if n.Prefix != "" {
			args += " -p " + shellQuote(n.Prefix)
		}
		if n.Explicit && n.Source == probes.NginxFile && n.Main != "" && !slices.Contains(nginxconf.DefaultPaths(), n.Main) {
			args += " -c " + shellQuote(n.Main)
		}
	}
	return "sudo nginx -t" + args + " && sudo nginx -s reload" + args
}

// indentOf is the indentation a directive at d's nesting depth within its own file has in
// a tidy file.
func indentOf(d *nginxconf.Directive) string {
	// Only the blocks open in d's own file indent it: a server in conf.d/*.conf sits at
	// column 0 although http{} in nginx.conf encloses it.
	n := 0
	for p := d.Parent; p != nil; p = p.Parent {
		if p.File == d.File {
			n++
		}
	}
	return strings.Repeat("    ", n)
}

// blockOpen renders a block directive's opening line, e.g. "location /x {".
func blockOpen(d *nginxconf.Directive) string {
	s := d.String()
	return strings.TrimSuffix(s, " { … }") + " {"
}

// replaceDiff is a unified-diff hunk replacing directive d with text (a whole directive,
// ";" included), at d's line.
func replaceDiff(d *nginxconf.Directive, text string) string {
	ind := indentOf(d)
	return fmt.Sprintf("@@ -%d +%d @@\n-%s%s\n+%s%s", d.Line, d.Line, ind, d.String(), ind, text)
}

// insertAfterDiff is a hunk adding text after directive anchor, at the same level.
func insertAfterDiff(anchor *nginxconf.Directive, text ...string) string {
	ind := indentOf(anchor)
	first := anchor.String()
	if anchor.Block != nil {
		first = blockOpen(anchor)
		ind += "    "
	}
	var b strings.Builder
	fmt.Fprintf(&b, "@@ -%d +%d,%d @@\n %s%s", anchor.Line, anchor.Line, len(text)+1, indentOf(anchor), first)
	for _, t := range text {
		fmt.Fprintf(&b, "\n+%s%s", ind, t)
	}
	return b.String()
}

// removeDiff is a hunk deleting directive d.
func removeDiff(d *nginxconf.Directive) string {
	return fmt.Sprintf("@@ -%d +%d,0 @@\n-%s%s", d.Line, d.Line-1, indentOf(d), d.String())
}

// nginxStep is a playbook step that edits the NGINX configuration, then tests and reloads
// it. The edit is the diff, made by sed on the lines it names after a backup of the file;
// a diff without line numbers (no configuration was read) cannot be run and says so.
func nginxStep(f *Facts, title, why, file, diff string, verify ...string) Step {
	return nginxEditsStep(f, title, why, verify, nginxEdit{file, diff})
}

// nginxEdit is a diff of one configuration file.
type nginxEdit struct{ file, diff string }

// nginxEditsStep is nginxStep for several edits, tested and reloaded once after all of them.
func nginxEditsStep(f *Facts, title, why string, verify []string, edits ...nginxEdit) Step {
	st := Step{Title: title, Why: why, File: edits[0].file, Verify: verify, Host: HostManager}
	var diffs []string
	exprs := map[string][]string{}
	var files []string
	runnable := nginxLinesKnown(f)
	for _, e := range edits {
		diffs = append(diffs, e.diff)
		x, ok := diffSed(e.diff)
		runnable = runnable && ok && e.file != ""
		if !slices.Contains(files, e.file) {
			files = append(files, e.file)
		}
		exprs[e.file] = append(exprs[e.file], x...)
	}
	st.Diff = strings.Join(diffs, "\n")
	if !runnable {
		file := edits[0].file
		if file == "" || file == managerNginxConf || !nginxLinesKnown(f) {
			file = "<manager-nginx-conf>"
			st.File = file
		}
		st.Commands = []string{"sudo grep -n 'server\\|listen\\|ssl_\\|error_' " + shellQuote(file), reloadNginxFor(f)}
		st.Changes = []string{file}
		st.Manual = "the manager's NGINX configuration was not read here, so the lines to change are not known: " +
			"make the edit shown by hand on the manager, or run mtls-doctor there with --nginx-config for the exact commands"
		return st
	}
	for _, file := range files {
		st.Commands = append(st.Commands, backupCommand(file), sedCommand(file, exprs[file]...))
		st.Changes = append(st.Changes, file)
	}
	st.Commands = append(st.Commands, reloadNginxFor(f))
	return st
}

// nginxLinesKnown reports whether the configuration a step edits was read here, so its
// lines are known: this host's NGINX serves agents, or the configuration was named
// (--nginx-config) and parsed, as when it should serve agents and does not yet.
func nginxLinesKnown(f *Facts) bool {
	return managerHost(f) || f != nil && f.Nginx != nil && f.Nginx.Explicit && f.Nginx.Config != nil
}

var hunkHeader = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@$`) })

// diffSed turns a diff made by replaceDiff, insertAfterDiff or removeDiff (hunks naming
// their line) into sed expressions on those lines; ok is false for any other diff. A
// directive is replaced or removed from its name to its ";", so other directives on the
// line stay; added lines go after the hunk's first line, their indentation kept by a
// leading backslash (POSIX sed, a command).
func diffSed(diff string) (exprs []string, ok bool) {
	lines := strings.Split(strings.TrimRight(diff, "\n"), "\n")
	for i := 0; i < len(lines); {
		m := hunkHeader().FindStringSubmatch(lines[i])
		if m == nil {
			return nil, false
		}
		line := m[1]
		i++
		var old []string
		var added []string
		context := false
		for ; i < len(lines) && !strings.HasPrefix(lines[i], "@@"); i++ {
			switch l := lines[i]; {
			case strings.HasPrefix(l, "-"):
				old = append(old, strings.TrimSpace(l[1:]))
			case strings.HasPrefix(l, "+"):
				added = append(added, l[1:])
			case strings.HasPrefix(l, " "):
				context = true
			}
		}
		switch {
		case len(old) == 1 && !context:
			name, _, _ := strings.Cut(old[0], " ")
			if !directiveName().MatchString(name) {
				return nil, false
			}
			repl := ""
			if len(added) == 1 {
				repl = sedText(strings.TrimSpace(added[0]))
			} else if len(added) > 1 {
				return nil, false
			}
			exprs = append(exprs, line+"s|"+strings.TrimSuffix(name, ";")+"[^;]*;|"+repl+"|")
		case len(old) == 0 && context && len(added) > 0:
			exprs = append(exprs, line+"a\\")
			for j, a := range added {
				e := "\\" + sedText(a)
				if j < len(added)-1 {
					e += "\\"
				}
				exprs = append(exprs, e)
			}
		default:
			return nil, false
		}
	}
	return exprs, len(exprs) > 0
}

var directiveName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_]*;?$`) })

// serverAnchor is the directive after which a server-level setting is added: the named
// directive if the server has it, else its last listen, else the server block itself.
func serverAnchor(s *probes.NginxServer, near ...string) *nginxconf.Directive {
	for _, n := range near {
		if ds := s.Children(n); len(ds) > 0 {
			return ds[len(ds)-1]
		}
	}
	if len(s.Listens) > 0 {
		return s.Listens[len(s.Listens)-1].Directive
	}
	return s.Directive
}

// setServerDirective is the step that sets name to value in server s: it replaces the
// directive in effect when the server itself has it, else adds one to the server block.
func setServerDirective(f *Facts, s *probes.NginxServer, st nginxconf.Setting, name, value, title, why string, verify ...string) Step {
	text := name + " " + value + ";"
	if st.Directive != nil && st.Directive.Parent == s.Directive {
		return nginxStep(f, title, why, st.Directive.File, replaceDiff(st.Directive, text), verify...)
	}
	anchor := serverAnchor(s, "ssl_verify_client", "ssl_client_certificate", "ssl_certificate_key", "server_name")
	return nginxStep(f, title, why, anchor.File, insertAfterDiff(anchor, text), verify...)
}

// managerConfPath names the file playbooks edit when no facts say which: NIM 2.x's.
func managerConfPath(f *Facts) string {
	if managerHost(f) && len(f.Nginx.Servers) > 0 {
		return f.Nginx.Servers[0].File
	}
	return managerNginxConf
}
