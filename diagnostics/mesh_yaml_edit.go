package diagnostics

import (
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// Line-addressed edits of the YAML files the mesh is judged from (Helm values, MeshConfig
// resources, manifests, the upstream authority configuration). Each edit is a GNU sed
// expression addressing a line of the file as it was read, so several edits of one file
// go in one sed command and whatever else the file holds (comments, secrets) is left as
// it is. Only block-style YAML is edited; a flow-style or JSON value gives no edit.

// yamlEdit is the sed expressions and the diff lines of one or more edits of a file.
type yamlEdit struct {
	exprs []string
	diff  strings.Builder
}

// blockEntry reports whether e is a block-style "key: scalar" line: its value starts on
// its own line and its parent (when there is one) is on an earlier line.
func blockEntry(e *probes.Entry, parentLine int) bool {
	if e == nil || e.Line <= 0 || e.Line == parentLine {
		return false
	}
	v := e.Value
	// A block scalar (| or >) starts on the key's line and goes on below it.
	return v == nil || v.Kind == probes.NodeNull || v.Kind == probes.NodeScalar && v.Line == e.Line && !strings.Contains(v.Value, "\n")
}

// set sets path to value (YAML as written: quoted where YAML 1.1 would misread it) in doc;
// false when the file's shape allows no line edit.
func (y *yamlEdit) set(doc *probes.Node, path []string, value string) bool {
	if doc == nil || doc.Kind != probes.NodeMap || len(path) == 0 {
		return false
	}
	leaf := path[len(path)-1]
	if e := doc.Lookup(path...); e != nil {
		parentLine := 0
		if len(path) > 1 {
			parentLine = doc.Lookup(path[:len(path)-1]...).Line
		}
		if !blockEntry(e, parentLine) {
			return false
		}
		// The key (up to its colon) stays; the value after it is replaced.
		y.exprs = append(y.exprs, fmt.Sprintf(`%ds|^\([^:]*:\).*$|\1 %s|`, e.Line, sedText(value)))
		fmt.Fprintf(&y.diff, "@@ line %d @@\n-%s%s: %s\n+%s%s: %s\n", e.Line, strings.Repeat(" ", e.Column-1), leaf,
			scalarText(e.Value), strings.Repeat(" ", e.Column-1), leaf, value)
		return true
	}
	// The deepest mapping of path that exists takes the keys that are missing, right
	// after its own key, indented as its first entry is.
	for k := len(path) - 1; k >= 0; k-- {
		var m *probes.Node
		after, indent := "$", 0
		if k == 0 {
			m = doc
		} else if e := doc.Lookup(path[:k]...); e != nil {
			m, after = e.Value, fmt.Sprint(e.Line)
			indent = e.Column + 1
		} else {
			continue
		}
		if m == nil || m.Kind == probes.NodeNull && k > 0 {
			m = &probes.Node{Kind: probes.NodeMap}
		}
		if m.Kind != probes.NodeMap {
			return false
		}
		if len(m.Entries) > 0 {
			first := m.Entries[0]
			if k > 0 && first.Line <= doc.Lookup(path[:k]...).Line || k == 0 && first.Column != 1 {
				return false // a flow mapping
			}
			indent = first.Column - 1
		} else if k == 0 {
			return false // an empty document: no line to append after
		}
		var lines []string
		for i, key := range path[k:] {
			line := strings.Repeat(" ", indent+2*i) + key + ":"
			if i == len(path[k:])-1 {
				line += " " + value
			}
			lines = append(lines, line)
		}
		escaped := make([]string, len(lines))
		for i, l := range lines {
			escaped[i] = sedText(l)
		}
		y.exprs = append(y.exprs, after+`a\`+strings.Join(escaped, `\n`))
		fmt.Fprintf(&y.diff, "@@ after line %s @@\n", strings.Replace(after, "$", "the last", 1))
		for _, l := range lines {
			y.diff.WriteString("+" + l + "\n")
		}
		return true
	}
	return false
}

// remove deletes e's line; false when e is not a block-style scalar line.
func (y *yamlEdit) remove(e *probes.Entry, parentLine int) bool {
	if !blockEntry(e, parentLine) {
		return false
	}
	y.exprs = append(y.exprs, fmt.Sprintf("%dd", e.Line))
	fmt.Fprintf(&y.diff, "@@ line %d @@\n-%s%s: %s\n", e.Line, strings.Repeat(" ", e.Column-1), e.Key, scalarText(e.Value))
	return true
}

// yamlQuote writes v as a YAML scalar: double-quoted where YAML 1.1 would read a boolean
// or where it holds characters YAML treats specially.
func yamlQuote(v string) string {
	if yaml11Bools(v) || v == "" || strings.ContainsAny(v, ":#{}[],&*!|>'\"%@`") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
	}
	return v
}

// editFileCommands back file up and run the sed expressions on it (the user's own file:
// no sudo), then the commands that hand the file to the cluster.
func editFileCommands(file string, y *yamlEdit, apply ...string) []string {
	cmds := []string{localBackupCommand(file)}
	sed := "sed -i"
	for _, e := range y.exprs {
		sed += " -e " + shellQuote(e)
	}
	cmds = append(cmds, sed+" "+shellQuote(file))
	return append(cmds, apply...)
}
