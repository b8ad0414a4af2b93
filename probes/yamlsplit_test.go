package probes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
)

// dumpAST prints every node of f with its token, position and path, in document order:
// two ASTs with the same dump read the same to every lookup this package makes.
func dumpAST(f *ast.File) string {
	var b strings.Builder
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			b.WriteString("(empty document)\n")
			continue
		}
		ast.Walk(dumper{&b}, d.Body)
	}
	return b.String()
}

type dumper struct{ b *strings.Builder }

func (d dumper) Visit(n ast.Node) ast.Visitor {
	if n == nil {
		d.b.WriteString(")\n")
		return nil
	}
	fmt.Fprintf(d.b, "(%T %s", n, n.GetPath())
	if tk := n.GetToken(); tk != nil {
		fmt.Fprintf(d.b, " %s %q", tk.Type, tk.Value)
		if tk.Position != nil {
			fmt.Fprintf(d.b, " %+v", *tk.Position)
		}
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		fmt.Fprintf(d.b, " flow=%v n=%d", n.IsFlowStyle, len(n.Values))
	case *ast.SequenceNode:
		fmt.Fprintf(d.b, " flow=%v n=%d", n.IsFlowStyle, len(n.Values))
	}
	d.b.WriteString("\n")
	return d
}

// parseOutcome is what a parse of data gave: the AST's dump, or the error's message and
// position.
func parseOutcome(f *ast.File, err error) string {
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			pos := "no position"
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				pos = fmt.Sprintf("%d:%d", tk.Position.Line, tk.Position.Column)
			}
			return fmt.Sprintf("error at %s: %s", pos, ye.GetMessage())
		}
		return "error: " + err.Error()
	}
	return dumpAST(f)
}

// wholeOutcome is parser.Parse's own outcome on data; panicked when it panics.
func wholeOutcome(data []byte) (out string, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			out, panicked = fmt.Sprint("panic: ", r), true
		}
	}()
	return parseOutcome(parser.Parse(lexer.Tokenize(string(data)), 0)), false
}

// splitOutcome is parseYAMLTokens's outcome with pieces of per entries, and whether the
// document was split (false: parser.Parse read it whole).
func splitOutcome(data []byte, per int) (out string, split bool) {
	toks := lexer.Tokenize(string(data))
	if f := splitParse(data, toks, per); f != nil {
		return parseOutcome(f, nil), true
	}
	return parseOutcome(parser.Parse(toks, 0)), false
}

// sameAsWhole fails t when parsing data in pieces of per entries gives anything other
// than parsing it whole; it returns whether the pieces were used.
func sameAsWhole(t *testing.T, data []byte, per int) bool {
	t.Helper()
	want, panicked := wholeOutcome(data)
	if panicked {
		return false // parseLimitedYAML reports the parser's panic; nothing to compare
	}
	got, split := splitOutcome(data, per)
	if got != want {
		t.Errorf("pieces of %d entries (split=%v) differ from the whole parse of\n%s\nwhole:\n%s\npieces:\n%s", per, split, data, want, got)
	}
	return split
}

// keysYAML is n keys "prefix<i>: v" indented by indent spaces.
func keysYAML(indent string, prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s%s%d: v%d\n", indent, prefix, i, i)
	}
	return b.String()
}

// splitCases are documents in shapes the split must reproduce exactly, each with whether
// pieces of 3 entries must be used for it (false: only that the result is the same).
var splitCases = []struct {
	name  string
	doc   string
	split bool
}{
	{"top-level keys", keysYAML("", "k", 10), true},
	{"nested keys", "server:\n" + keysYAML("  ", "k", 10) + "tls:\n  skip_verify: false\n", true},
	{"nested twice", "a:\n  b:\n" + keysYAML("    ", "k", 10) + "  c: 1\nd: 2\n", true},
	{"nested first and last", "a:\n" + keysYAML("  ", "k", 7) + "b:\n" + keysYAML("  ", "j", 7), true},
	{"nested in four-space indent", "a:\n" + keysYAML("    ", "k", 7) + "z: 1\n", true},
	{"empty values at piece ends", "a:\nb:\nc:\nd:\ne:\nf:\ng:\nh:\n", true},
	{"empty value before a nested mapping", "a:\nb:\nc:\nd:\n" + keysYAML("  ", "k", 5), true},
	{"empty nested values", "a:\n  b:\n  c:\n  d:\n  e:\n  f:\nz:\n", true},
	{"tag at the end of a line", "0: !000\n1:\n2: 2\n3: 3\n4: 4\n", false},
	{"anchor at the end of a line", "a: 1\nb: 2\nc: &x\nd: *x\ne: 5\nf: 6\n", true},
	{"anchors and merges across pieces", "base: &b\n  host: h\n  port: 1\nx1: 1\nx2: 2\nx3: 3\nuse:\n  <<: *b\n  port: 2\nx4: *b\n", true},
	{"compact sequences", "a:\n- 1\n- 2\nb:\n- x: 1\n  y: 2\nc: 3\nd:\n  - 4\ne: 5\n", true},
	{"compact sequence in a nested mapping", "top:\n  a:\n  - 1\n  b: 2\n  c:\n  - 3\n  d: 4\n  e: 5\n", true},
	{"block scalars at piece ends", "a: |\n  line\n  line\nb: >-\n  folded\n  text\nc: |+\n  keep\n\nd: x\ne: |\n    deep\n      deeper\ng: 1\n", true},
	{"block scalar ended by a shallower key", "a: 1\nb: 2\nc: 3\ne: |\n    deep\n  f: not a key\ng: 1\n", false},
	{"flow collections over lines", "a: {x: 1,\n  y: 2}\nb: [1,\n  2,\n  3]\nc: 1\nd: {\n  e: f\n}\ng: 2\n", true},
	{"multi-line scalars", "a: plain\n  continued\nb: \"double\n  quoted\"\nc: 'single\n  quoted'\nd: 1\ne: 2\n", true},
	{"quoted and typed keys", "\"a\": 1\n'b': 2\n3: 3\ntrue: 4\nnull: 5\n1.5: 6\n~: 7\n", true},
	{"comments everywhere", "# head\na: 1 # one\n# between\nb:\n  # inside\n  c: 2\n  d: 3\n  e: 4\n  f: 5 # five\n# tail\ng: 6\n", true},
	{"tags and anchors on values", "a: !!str 1\nb: &v 2\nc: *v\nd: !!map\n  e: 1\nf: &m\n  g: 1\n  h: 2\n  i: 3\n  j: 4\n", true},
	{"indented document", "  a: 1\n  b: 2\n  c: 3\n  d: 4\n  e: 5\n", true},
	{"keys with path characters", "a.b: 1\n\"$x\": 2\n\"[0]\": 3\n\"*\": 4\nc: 5\n", true},
	{"sequence of mappings", "items:\n" + strings.Repeat("- name: n\n  value: v\n", 5) + "y: 1\nz: 1\nzz:\n- 1\n", true},

	// Errors and duplicates: the pieces must give the whole parse's message and position.
	{"duplicate key across pieces", keysYAML("", "k", 8) + "k1: again\n", false},
	{"duplicate nested key across pieces", "a:\n" + keysYAML("  ", "k", 8) + "  k2: again\nb: 1\n", false},
	{"duplicate nested mapping key", "a:\n" + keysYAML("  ", "k", 5) + "b: 1\na:\n" + keysYAML("  ", "j", 5), false},
	{"path collision across mappings", "\"'p\":\n  \"q'\": 1\nb: 1\nc: 2\nd: 3\n\"p.q\": 2\n", false},
	{"bad indentation in a later piece", keysYAML("", "k", 7) + "x: 1\n   y: 2\nz: 3\n", false},
	{"bad indentation in a nested piece", "a:\n" + keysYAML("  ", "k", 7) + "   y: 2\n  z: 3\n", false},
	{"value on the key's line and below", "a: 1\nb: 2\nc: 3\nd: x\n  e: 1\nf: 1\n", false},
	{"unclosed flow mapping", "a: 1\nb: 2\nc: {x: 1\nd: 3\ne: 4\n", false},
	{"tab indentation", "a: 1\nb: 2\nc:\n\td: 1\ne: 2\nf: 3\n", false},
	{"key without a value", "a: 1\nb: 2\nc\nd: 3\ne: 4\n", false},
	{"mapping then a scalar", "a: 1\nb: 2\nc: 3\nd: 4\nscalar\n", false},
	{"explicit key", "a: 1\n? b\n: 2\nc: 3\nd: 4\n", false},
	{"several documents", "a: 1\nb: 2\n---\nc: 3\nd: 4\n", false},
	{"document markers", "%YAML 1.2\n---\na: 1\nb: 2\nc: 3\n...\n", false},
	{"crlf", "a: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n", false},
	{"alias key", "&k a: 1\n*k : 2\nb: 3\nc: 4\n", false},
	{"sequence at the top", "- a: 1\n- b: 2\n", false},
}

// TestSplitParseSameAsWhole proves the split parse gives the whole parse's AST, or its
// error, for each shape and for pieces of 1 to 4 entries.
func TestSplitParseSameAsWhole(t *testing.T) {
	for _, tc := range splitCases {
		t.Run(tc.name, func(t *testing.T) {
			for per := 1; per <= 4; per++ {
				if split := sameAsWhole(t, []byte(tc.doc), per); tc.split && per == 3 && !split {
					t.Errorf("pieces of 3 were not used for\n%s", tc.doc)
				}
			}
		})
	}
}

// TestSplitParseFixtures runs every agent configuration fixture through the comparison,
// with pieces small enough that each valid one is split.
func TestSplitParseFixtures(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "agentconfig", "*.conf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("fixtures: %v, %d files", err, len(paths))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for per := 1; per <= 3; per++ {
			if split := sameAsWhole(t, data, per); !split && per == 2 && !strings.HasPrefix(filepath.Base(p), "bad-") {
				t.Errorf("%s: pieces of 2 were not used", p)
			}
		}
	}
}

// TestSplitParseErrorsThroughLoader checks the messages users see for errors in files
// large enough to be split: the agent loader reports the whole parse's message and line.
func TestSplitParseErrorsThroughLoader(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		line, col int
		msg       string
	}{
		{"duplicate top-level key", keysYAML("", "k", 100) + "k7: x\n", 101, 1, `mapping key "k7" already defined at [8:1]`},
		{"duplicate nested key", "labels:\n" + keysYAML("  ", "k", 100) + "  k70: x\n", 102, 3, `mapping key "k70" already defined at [72:3]`},
		{"misindented key", keysYAML("", "k", 60) + "tls:\n  cert: c\n   key: k\n", 62, 9, "mapping value is not allowed in this context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, cerr := parseYAML("/a.conf", []byte(tc.doc))
			if cerr == nil || cerr.Line != tc.line || cerr.Column != tc.col || cerr.Message != tc.msg {
				t.Errorf("error %+v, want %d:%d %q", cerr, tc.line, tc.col, tc.msg)
			}
		})
	}
}

// FuzzSplitParse: for any input, parsing in pieces (of 1 to 4 entries, so that small
// inputs are split) gives exactly what parser.Parse gives.
func FuzzSplitParse(f *testing.F) {
	for _, tc := range splitCases {
		f.Add([]byte(tc.doc), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, per uint8) {
		if len(data) > 4096 {
			return
		}
		sameAsWhole(t, data, 1+int(per%4))
	})
}

// yamlShape is a document of n entries of one kind: keys of the top-level mapping, keys
// of a mapping nested under one key (agent v3's labels), or items of a list (agent v3's
// allowed_directories).
func yamlShape(shape string, n int) []byte {
	var b strings.Builder
	b.WriteString("command:\n  server:\n    host: nim.example.com\n    port: 443\n")
	switch shape {
	case "top":
		b.WriteString(keysYAML("", "key", n))
	case "nested":
		b.WriteString("labels:\n" + keysYAML("  ", "key", n))
	case "list":
		b.WriteString("allowed_directories:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - /etc/nginx/d%d\n", i)
		}
	}
	return []byte(b.String())
}

// BenchmarkParseYAMLTokens compares go-yaml's parser on whole documents with the split
// parse, past the token limit too (8,000 entries): ns/entry shows the growth.
func BenchmarkParseYAMLTokens(b *testing.B) {
	for _, shape := range []string{"top", "nested", "list"} {
		for _, n := range []int{100, 1000, 2729, 8000} {
			data := yamlShape(shape, n)
			for _, how := range []string{"whole", "split"} {
				b.Run(fmt.Sprintf("%s/%s/entries=%d", shape, how, n), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						toks := lexer.Tokenize(string(data))
						var err error
						if how == "whole" {
							_, err = parser.Parse(toks, 0)
						} else {
							_, err = parseYAMLTokens(data, toks)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
				})
			}
		}
	}
}
