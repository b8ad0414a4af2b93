package probes

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

// The hardened YAML reader under the agent's configuration and nginx-manager.conf:
// size, token, depth and alias limits before go-yaml parses, then lookups that resolve
// anchors, aliases and merge keys lazily along the keys asked for.

// Limits on the configuration files read, so that a huge file or a YAML bomb gives a
// ConfigError instead of minutes of CPU and gigabytes of memory. goccy/go-yaml's parser is
// quadratic in the entries of one block mapping (15,000 tokens took 0.65 s and 108 MB here,
// 30,000 took 19 s and 3.6 GB). parseYAMLTokens reads the usual shapes (large mappings at
// the top level or nested under keys) in pieces, in linear time, but hands other shapes
// (a large mapping inside a list, say) to the parser whole, so tokens stay capped far
// below what 1 MiB could hold; the agent's own files have a few hundred.
const (
	maxAgentConfigBytes  = 1 << 20
	maxAgentConfigTokens = 8192
	maxAgentConfigDepth  = 64 // flow collections ([ and {) open at once
	maxAliasHops         = 32 // alias → anchor → alias ... before giving up
	maxMergeDepth        = 16 // nested `<<:` merge keys followed
)

func tooLarge(path string, n int) *ConfigError {
	msg := fmt.Sprintf("file too large: %d bytes, the limit is %d", n, maxAgentConfigBytes)
	if n > maxAgentConfigBytes {
		msg = fmt.Sprintf("file too large: more than %d bytes", maxAgentConfigBytes)
	}
	return &ConfigError{Path: path, Message: msg}
}

// yamlDoc is one parsed configuration file. Lookups resolve anchors, aliases and merge
// keys lazily and only along the keys asked for, so aliases are never expanded wholesale.
type yamlDoc struct {
	path string
	root ast.Node // the top-level mapping; nil for an empty file
	// notMapping is the top level when it is a scalar or a sequence (root is nil).
	notMapping ast.Node
	anchors    map[string][]*ast.AnchorNode // by name, in document order
}

// parseYAML parses the first document of data through parseLimitedYAML. A top level that
// is not a mapping leaves root nil and is kept in notMapping.
func parseYAML(path string, data []byte) (*yamlDoc, *ConfigError) {
	f, cerr := parseLimitedYAML(path, data)
	if cerr != nil {
		return nil, cerr
	}
	doc := &yamlDoc{path: path, anchors: map[string][]*ast.AnchorNode{}}
	if len(f.Docs) == 0 || f.Docs[0] == nil || f.Docs[0].Body == nil {
		return doc, nil
	}
	doc.collectAnchors(f.Docs[0].Body)
	body := doc.resolve(f.Docs[0].Body)
	switch body.(type) {
	case nil, *ast.NullNode:
		return doc, nil
	case *ast.MappingNode, *ast.MappingValueNode:
		doc.root = body
		return doc, nil
	}
	doc.notMapping = body
	return doc, nil
}

// parseAgentYAML is parseYAML for the agent's files, whose top level must be a mapping.
// A parse error carries the re-indentation that repairs it when there is one.
func parseAgentYAML(path string, data []byte) (*yamlDoc, *ConfigError) {
	doc, cerr := parseAgentYAMLOnce(path, data)
	if cerr != nil && cerr.Line > 0 {
		cerr.Reindent = findReindent(path, data, cerr.Line)
	}
	return doc, cerr
}

// reindentWindow is how many content lines either side of the error's line are tried.
const reindentWindow = 2

// findReindent looks, among the content lines near errLine, for one whose indentation
// differs from the content line before it and which, indented like that line, makes the
// whole file parse. It tries at most 2*reindentWindow+1 lines; nil when none does.
func findReindent(path string, data []byte, errLine int) *Reindent {
	lines := strings.Split(string(data), "\n")
	prev := -1 // index of the previous content line
	for i, line := range lines {
		if i+1 > errLine+reindentWindow {
			break
		}
		t := strings.TrimLeft(line, " ")
		if t == "" || t[0] == '#' || strings.TrimSpace(t) == "" {
			continue
		}
		if prev >= 0 && i+1 >= errLine-reindentWindow && !strings.HasPrefix(line, "\t") {
			want := len(lines[prev]) - len(strings.TrimLeft(lines[prev], " "))
			if have := len(line) - len(t); plausibleMisindent(strings.TrimLeft(lines[prev], " "), t, have-want) {
				try := slices.Clone(lines)
				try[i] = strings.Repeat(" ", want) + t
				if _, err := parseAgentYAMLOnce(path, []byte(strings.Join(try, "\n"))); err == nil {
					return &Reindent{Line: i + 1, Indent: want}
				}
			}
		}
		prev = i
	}
	return nil
}

// plausibleMisindent reports whether line (trimmed), indented by delta spaces relative to
// the content line prev (trimmed) before it, looks like a slip of the indentation and not
// a structure meant as written: a key deeper than a key that already has its value, or a
// list item off its list's column. A key shallower than its siblings (a duplicate key at
// the top level, say) is left alone: moving it would change what it belongs to.
func plausibleMisindent(prev, line string, delta int) bool {
	item := func(s string) bool { return s == "-" || strings.HasPrefix(s, "- ") }
	switch {
	case delta == 0:
		return false
	case item(prev) && item(line):
		return true
	case delta < 0:
		return false
	}
	k, v, ok := strings.Cut(prev, ":")
	v = strings.TrimSpace(v)
	return ok && k != "" && !item(prev) && v != "" && v[0] != '#' && v[0] != '|' && v[0] != '>' && strings.Contains(line, ":")
}

// parseAgentYAMLOnce is parseYAML with the agent's top-level mapping required.
func parseAgentYAMLOnce(path string, data []byte) (*yamlDoc, *ConfigError) {
	doc, cerr := parseYAML(path, data)
	if cerr != nil || doc.notMapping == nil {
		return doc, cerr
	}
	body := doc.notMapping
	e := &yaml.UnexpectedNodeTypeError{Actual: body.Type(), Expected: ast.MappingType, Token: body.GetToken()}
	return nil, tokenError(path, e.GetToken(), e.GetMessage())
}

// parseLimitedYAML parses every document of data, refusing inputs past the size limits
// (a YAML bomb, a megabyte of keys). The error carries the library's message and the
// position it points at. Every YAML reader of the tool parses through it.
func parseLimitedYAML(path string, data []byte) (f *ast.File, cerr *ConfigError) {
	defer func() {
		// The parser is third-party code fed untrusted input: a panic is a decode error.
		if r := recover(); r != nil {
			f, cerr = nil, &ConfigError{Path: path, Message: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	if len(data) > maxAgentConfigBytes {
		return nil, tooLarge(path, len(data))
	}
	if line := contentLineOver(data, maxAgentConfigTokens); line > 0 {
		// Every such line holds a token; refusing here spares lexing a megabyte (0.8 s).
		return nil, &ConfigError{Path: path, Line: line, Column: 1,
			Message: fmt.Sprintf("too many YAML tokens (more than %d)", maxAgentConfigTokens)}
	}
	toks := lexer.Tokenize(string(data))
	if tk := toks.InvalidToken(); tk != nil {
		return nil, tokenError(path, tk, tk.Error)
	}
	if tk, msg := checkTokenLimits(toks); tk != nil {
		return nil, tokenError(path, tk, msg)
	}
	f, err := parseYAMLTokens(data, toks)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			return nil, tokenError(path, ye.GetToken(), ye.GetMessage())
		}
		return nil, &ConfigError{Path: path, Message: err.Error()}
	}
	return f, nil
}

func tokenError(path string, tk *token.Token, msg string) *ConfigError {
	e := &ConfigError{Path: path, Message: msg}
	if tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	return e
}

// contentLineOver returns the 1-based number of the line that makes more than max lines
// holding something other than blanks and a comment, or 0.
func contentLineOver(data []byte, max int) int {
	n := 0
	for i, line := range strings.Split(string(data), "\n") {
		if t := strings.TrimLeft(line, " \t\r"); t != "" && t[0] != '#' {
			if n++; n > max {
				return i + 1
			}
		}
	}
	return 0
}

// checkTokenLimits returns the token past a limit, with the reason, or nil.
func checkTokenLimits(toks token.Tokens) (*token.Token, string) {
	n, depth := 0, 0
	for _, tk := range toks {
		switch tk.Type {
		case token.CommentType:
			continue
		case token.SequenceStartType, token.MappingStartType:
			if depth++; depth > maxAgentConfigDepth {
				return tk, fmt.Sprintf("flow collections nested deeper than %d levels", maxAgentConfigDepth)
			}
		case token.SequenceEndType, token.MappingEndType:
			depth--
		}
		if n++; n > maxAgentConfigTokens {
			return tk, fmt.Sprintf("too many YAML tokens (more than %d)", maxAgentConfigTokens)
		}
	}
	return nil, ""
}

// collectAnchors indexes every anchor; the walk is bounded by the token limit.
func (d *yamlDoc) collectAnchors(n ast.Node) {
	stack := []ast.Node{n}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch n := n.(type) {
		case *ast.AnchorNode:
			if n.Name != nil {
				name := n.Name.GetToken().Value
				d.anchors[name] = append(d.anchors[name], n)
			}
			stack = append(stack, n.Value)
		case *ast.TagNode:
			stack = append(stack, n.Value)
		case *ast.MappingNode:
			for i := len(n.Values) - 1; i >= 0; i-- {
				stack = append(stack, n.Values[i])
			}
		case *ast.MappingValueNode:
			stack = append(stack, n.Value, n.Key)
		case *ast.MappingKeyNode:
			stack = append(stack, n.Value)
		case *ast.SequenceNode:
			for i := len(n.Values) - 1; i >= 0; i-- {
				stack = append(stack, n.Values[i])
			}
		}
	}
	// The stack pops in document order only roughly; sort each name's anchors by offset.
	for _, as := range d.anchors {
		for i := 1; i < len(as); i++ {
			for j := i; j > 0 && offset(as[j]) < offset(as[j-1]); j-- {
				as[j], as[j-1] = as[j-1], as[j]
			}
		}
	}
}

func offset(n ast.Node) int {
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Offset
	}
	return 0
}

// resolve follows anchors, tags and aliases to the node they stand for; nil when an alias
// names no earlier anchor or the chain is too long.
func (d *yamlDoc) resolve(n ast.Node) ast.Node {
	for range maxAliasHops {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.MappingKeyNode:
			n = v.Value
		case *ast.AliasNode:
			n = d.anchorFor(v)
		default:
			return n
		}
	}
	return nil
}

// anchorFor is the value of the last anchor with the alias's name defined before it.
func (d *yamlDoc) anchorFor(a *ast.AliasNode) ast.Node {
	if a.Value == nil {
		return nil
	}
	var found ast.Node
	at := offset(a)
	for _, an := range d.anchors[a.Value.GetToken().Value] {
		if offset(an) >= at {
			break
		}
		found = an.Value
	}
	return found
}

// entries returns the key-value pairs of a mapping node (goccy may give a one-entry
// mapping as a bare MappingValueNode).
func entries(n ast.Node) []*ast.MappingValueNode {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}
	}
	return nil
}

// lookup finds the entry at a key path, matching keys case-insensitively as viper does.
func (d *yamlDoc) lookup(path ...string) *ast.MappingValueNode {
	if d == nil || d.root == nil {
		return nil
	}
	var mv *ast.MappingValueNode
	n := d.root
	for _, k := range path {
		if mv = d.get(n, k, map[ast.Node]bool{}, 0); mv == nil {
			return nil
		}
		n = d.resolve(mv.Value)
	}
	return mv
}

// get finds key in mapping n. Explicit keys win over merged ones (`<<: *anchor`); of
// duplicates differing only in case, the last wins. seen stops merge loops.
func (d *yamlDoc) get(n ast.Node, key string, seen map[ast.Node]bool, depth int) *ast.MappingValueNode {
	n = d.resolve(n)
	if n == nil || seen[n] || depth > maxMergeDepth {
		return nil
	}
	seen[n] = true
	var found *ast.MappingValueNode
	var merges []ast.Node
	for _, mv := range entries(n) {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			merges = append(merges, mv.Value)
			continue
		}
		if strings.EqualFold(d.keyText(mv.Key), key) {
			found = mv
		}
	}
	if found != nil {
		return found
	}
	for _, m := range merges {
		srcs := []ast.Node{m}
		if seq, ok := d.resolve(m).(*ast.SequenceNode); ok {
			srcs = seq.Values
		}
		for _, s := range srcs {
			if mv := d.get(s, key, seen, depth+1); mv != nil {
				return mv
			}
		}
	}
	return nil
}

func (d *yamlDoc) keyText(k ast.Node) string {
	v, _ := d.scalar(k)
	return v
}

// scalar returns a scalar's value as viper would read it as a string; ok is false for
// null, mappings and sequences.
func (d *yamlDoc) scalar(n ast.Node) (string, bool) {
	switch v := d.resolve(n).(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.IntegerNode:
		return fmt.Sprint(v.Value), true
	case *ast.BoolNode:
		return strconv.FormatBool(v.Value), true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	}
	return "", false
}

// collectionKind is "a list" or "a map" for a sequence or mapping node, else "".
func (d *yamlDoc) collectionKind(n ast.Node) string {
	switch d.resolve(n).(type) {
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a map"
	}
	return ""
}

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}
