package probes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// NodeKind says what a Node holds.
type NodeKind int

const (
	// NodeNull is an explicit null, "~" or an empty value.
	NodeNull NodeKind = iota
	// NodeScalar is a string, number or boolean.
	NodeScalar
	// NodeMap is a mapping: Entries in document order.
	NodeMap
	// NodeSeq is a sequence: Items in document order.
	NodeSeq
)

// ScalarType is a scalar's type as a YAML-to-JSON converter (sigs.k8s.io/yaml, which
// nginx-meshctl, Helm and kubectl use) hands it to a JSON schema or a Go struct.
type ScalarType string

const (
	ScalarString  ScalarType = "string"
	ScalarInteger ScalarType = "integer"
	ScalarNumber  ScalarType = "number"
	ScalarBoolean ScalarType = "boolean"
)

// Node is one value of a parsed YAML or JSON document, with the position it starts at.
type Node struct {
	Kind NodeKind
	// Type and Value describe a scalar; Value is the text as written (unquoted).
	Type  ScalarType
	Value string
	// Plain is true for a YAML scalar written without quotes.
	Plain bool
	// Entries are a mapping's keys and values; duplicates are kept, Get returns the last.
	Entries []Entry
	// Items are a sequence's values.
	Items []*Node
	// Line and Column are 1-based.
	Line, Column int
}

// Entry is one key of a mapping.
type Entry struct {
	Key          string
	Line, Column int
	Value        *Node
}

// Get returns the entry for key (exact match, the last of duplicates), or nil.
func (n *Node) Get(key string) *Entry {
	if n == nil || n.Kind != NodeMap {
		return nil
	}
	for i := len(n.Entries) - 1; i >= 0; i-- {
		if n.Entries[i].Key == key {
			return &n.Entries[i]
		}
	}
	return nil
}

// Lookup follows a key path through nested mappings; nil when a key is missing or a value
// on the way is not a mapping.
func (n *Node) Lookup(path ...string) *Entry {
	var e *Entry
	for _, k := range path {
		if e = n.Get(k); e == nil {
			return nil
		}
		n = e.Value
	}
	return e
}

// Text returns a scalar's value and whether n is a scalar.
func (n *Node) Text() (string, bool) {
	if n == nil || n.Kind != NodeScalar {
		return "", false
	}
	return n.Value, true
}

// TypeName names n's type as a JSON schema validator words it ("string", "object").
func (n *Node) TypeName() string {
	switch {
	case n == nil || n.Kind == NodeNull:
		return "null"
	case n.Kind == NodeMap:
		return "object"
	case n.Kind == NodeSeq:
		return "array"
	}
	return string(n.Type)
}

// maxTreeNodes bounds the values one file may expand to through aliases: the token limit
// bounds the text, this bounds what `*alias` references multiply it into.
const maxTreeNodes = 1 << 16

// ReadConfigFile reads a regular file of at most 1 MiB (the agent configuration's limit): a
// directory, a FIFO, /dev/zero or a larger file is an error, never a hang.
func ReadConfigFile(path string) ([]byte, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > maxAgentConfigBytes {
		return nil, errors.New(tooLarge(path, len(data)).Message)
	}
	return data, nil
}

// ParseDocuments parses every document of a YAML file, or the JSON values of a JSON file
// (one whose first non-blank byte is '{' or '['), into Nodes. YAML goes through the same
// limits as the agent configuration (size, tokens, nesting, alias hops); aliases are
// expanded up to a bound. A syntax error carries its line and column.
func ParseDocuments(path string, data []byte) ([]*Node, *ConfigError) {
	if len(data) > maxAgentConfigBytes {
		return nil, tooLarge(path, len(data))
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return parseJSONDocuments(path, data)
	}
	f, cerr := parseLimitedYAML(path, data)
	if cerr != nil {
		return nil, cerr
	}
	var out []*Node
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		doc := &yamlDoc{path: path, anchors: map[string][]*ast.AnchorNode{}}
		doc.collectAnchors(d.Body)
		tb := treeBuilder{doc: doc}
		n := tb.build(d.Body, 0)
		if tb.err != "" {
			return nil, &ConfigError{Path: path, Line: tb.errLine, Column: tb.errCol, Message: tb.err}
		}
		out = append(out, n)
	}
	return out, nil
}

// treeBuilder converts goccy's AST into Nodes, resolving aliases and merge keys through
// yamlDoc, and stops at maxTreeNodes.
type treeBuilder struct {
	doc             *yamlDoc
	count           int
	err             string
	errLine, errCol int
}

func (b *treeBuilder) fail(n ast.Node, msg string) *Node {
	if b.err == "" {
		b.err = msg
		b.errLine, b.errCol = position(n)
	}
	return &Node{Kind: NodeNull}
}

func position(n ast.Node) (line, col int) {
	if n == nil {
		return 0, 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line, tk.Position.Column
	}
	return 0, 0
}

// yaml11Bools are the plain scalars YAML 1.1 (go-yaml v2 under sigs.k8s.io/yaml) reads as
// booleans; goccy reads YAML 1.2, where only true and false are.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": true, "N": true, "no": true, "No": true, "NO": true, "off": true, "Off": true, "OFF": true,
}

func (b *treeBuilder) build(an ast.Node, depth int) *Node {
	if b.err != "" {
		return &Node{Kind: NodeNull}
	}
	if b.count++; b.count > maxTreeNodes {
		return b.fail(an, fmt.Sprintf("aliases expand to more than %d values", maxTreeNodes))
	}
	if depth > 2*maxAgentConfigDepth {
		return b.fail(an, fmt.Sprintf("values nested deeper than %d levels", 2*maxAgentConfigDepth))
	}
	line, col := position(an)
	at := func(n *Node) *Node { n.Line, n.Column = line, col; return n }
	r := b.doc.resolve(an)
	if r == nil {
		if _, ok := an.(*ast.AliasNode); ok {
			return b.fail(an, "alias to an unknown anchor")
		}
		return at(&Node{Kind: NodeNull})
	}
	if _, alias := an.(*ast.AliasNode); !alias {
		line, col = position(r)
	}
	switch v := r.(type) {
	case *ast.NullNode:
		return at(&Node{Kind: NodeNull})
	case *ast.StringNode:
		n := &Node{Kind: NodeScalar, Type: ScalarString, Value: v.Value}
		if tk := v.GetToken(); tk != nil && tk.Type != token.DoubleQuoteType && tk.Type != token.SingleQuoteType {
			n.Plain = true
			if yaml11Bools[v.Value] {
				n.Type = ScalarBoolean
			}
		}
		return at(n)
	case *ast.LiteralNode:
		n := &Node{Kind: NodeScalar, Type: ScalarString}
		if v.Value != nil {
			n.Value = v.Value.Value
		}
		return at(n)
	case *ast.IntegerNode:
		return at(&Node{Kind: NodeScalar, Type: ScalarInteger, Value: v.GetToken().Value, Plain: true})
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return at(&Node{Kind: NodeScalar, Type: ScalarNumber, Value: v.GetToken().Value, Plain: true})
	case *ast.BoolNode:
		return at(&Node{Kind: NodeScalar, Type: ScalarBoolean, Value: v.GetToken().Value, Plain: true})
	case *ast.SequenceNode:
		n := at(&Node{Kind: NodeSeq})
		for _, it := range v.Values {
			n.Items = append(n.Items, b.build(it, depth+1))
		}
		return n
	case *ast.MappingNode, *ast.MappingValueNode:
		n := at(&Node{Kind: NodeMap})
		b.mapping(n, r, depth, 0)
		return n
	}
	return b.fail(r, fmt.Sprintf("unsupported YAML node %s", r.Type()))
}

// mapping adds m's entries to n; merge keys (`<<: *anchor`) add the keys n does not have.
func (b *treeBuilder) mapping(n *Node, m ast.Node, depth, merges int) {
	var merged []ast.Node
	for _, mv := range entries(m) {
		if mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			merged = append(merged, mv.Value)
			continue
		}
		key, ok := b.doc.scalar(mv.Key)
		if !ok {
			b.fail(mv.Key, "a mapping key must be a scalar")
			return
		}
		kl, kc := position(mv.Key)
		n.Entries = append(n.Entries, Entry{Key: key, Line: kl, Column: kc, Value: b.build(mv.Value, depth+1)})
	}
	if len(merged) > 0 && merges >= maxMergeDepth {
		b.fail(m, fmt.Sprintf("merge keys nested deeper than %d levels", maxMergeDepth))
		return
	}
	for _, src := range merged {
		srcs := []ast.Node{src}
		if seq, ok := b.doc.resolve(src).(*ast.SequenceNode); ok {
			srcs = seq.Values
		}
		for _, s := range srcs {
			sub := &Node{Kind: NodeMap}
			r := b.doc.resolve(s)
			if r == nil {
				b.fail(s, "merge of an alias to an unknown anchor")
				return
			}
			b.mapping(sub, r, depth+1, merges+1)
			for _, e := range sub.Entries {
				if n.Get(e.Key) == nil {
					n.Entries = append(n.Entries, e)
				}
			}
		}
	}
}

// maxJSONDepth bounds nesting in a JSON document, as the YAML limits do.
const maxJSONDepth = 2 * maxAgentConfigDepth

// parseJSONDocuments decodes a stream of JSON values (kubectl -o json prints one) into
// Nodes, positioned by byte offset.
func parseJSONDocuments(path string, data []byte) ([]*Node, *ConfigError) {
	p := jsonTree{path: path, data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	var out []*Node
	for {
		n, err := p.value(0)
		if err == io.EOF && n == nil {
			return out, nil
		}
		if err != nil {
			return nil, p.errorAt(err)
		}
		out = append(out, n)
	}
}

type jsonTree struct {
	path  string
	data  []byte
	dec   *json.Decoder
	count int
}

// start is the position of the next value: past blanks and the ':' or ',' before it.
func (p *jsonTree) start() (line, col int) {
	off := int(p.dec.InputOffset())
	for off < len(p.data) && strings.IndexByte(" \t\r\n:,", p.data[off]) >= 0 {
		off++
	}
	return lineCol(p.data, off)
}

func lineCol(data []byte, off int) (line, col int) {
	off = min(off, len(data))
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	return line, off - bytes.LastIndexByte(data[:off], '\n')
}

type jsonPosError struct {
	line, col int
	msg       string
}

func (e *jsonPosError) Error() string { return e.msg }

func (p *jsonTree) errorAt(err error) *ConfigError {
	var pe *jsonPosError
	if errors.As(err, &pe) {
		return &ConfigError{Path: p.path, Line: pe.line, Column: pe.col, Message: pe.msg}
	}
	line, col := lineCol(p.data, int(p.dec.InputOffset()))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col = lineCol(p.data, int(se.Offset))
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("unexpected end of JSON input")
	}
	return &ConfigError{Path: p.path, Line: line, Column: col, Message: err.Error()}
}

func (p *jsonTree) value(depth int) (*Node, error) {
	line, col := p.start()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	if p.count++; p.count > maxTreeNodes {
		return nil, &jsonPosError{line, col, fmt.Sprintf("more than %d values", maxTreeNodes)}
	}
	if depth > maxJSONDepth {
		return nil, &jsonPosError{line, col, fmt.Sprintf("values nested deeper than %d levels", maxJSONDepth)}
	}
	n := &Node{Line: line, Column: col}
	switch t := tok.(type) {
	case nil:
		n.Kind = NodeNull
	case bool:
		n.Kind, n.Type, n.Value = NodeScalar, ScalarBoolean, fmt.Sprint(t)
	case json.Number:
		n.Kind, n.Type, n.Value = NodeScalar, ScalarNumber, t.String()
		if !strings.ContainsAny(n.Value, ".eE") {
			n.Type = ScalarInteger
		}
	case string:
		n.Kind, n.Type, n.Value = NodeScalar, ScalarString, t
	case json.Delim:
		switch t {
		case '{':
			n.Kind = NodeMap
			for p.dec.More() {
				kl, kc := p.start()
				kt, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, &jsonPosError{kl, kc, "object key is not a string"}
				}
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, noEOF(err)
				}
				n.Entries = append(n.Entries, Entry{Key: key, Line: kl, Column: kc, Value: v})
			}
		case '[':
			n.Kind = NodeSeq
			for p.dec.More() {
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, noEOF(err)
				}
				n.Items = append(n.Items, v)
			}
		default:
			return nil, &jsonPosError{line, col, fmt.Sprintf("unexpected %q", rune(t))}
		}
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, noEOF(err)
		}
	}
	return n, nil
}

// noEOF turns an end of input inside a value into an error (io.EOF alone ends the stream).
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
