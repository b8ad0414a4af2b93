package probes

import (
	"bytes"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// goccy/go-yaml v1.19.2 parses a block mapping of n keys in O(n²) time and memory:
// parser.parseMap reads each sibling key in a recursive call that returns every later
// entry, and copies them into its own slice (github.com/goccy/go-yaml parser/parser.go,
// parseMap; upstream pull request goccy/go-yaml#889). parseYAMLTokens sidesteps that
// without changing what comes out: it cuts large block mappings, at the top level and
// nested under keys, into pieces of at most splitEntries entries and has the same parser
// read each piece in its original context, then joins the pieces' entries. The result is
// the AST parser.Parse builds, node for node and position for position; whenever the
// split cannot be sure of that (an error anywhere, a key defined twice, a shape it does
// not know), it hands the whole document to parser.Parse, whose message and position
// are then the ones reported.

// splitEntries is the most entries of one mapping parsed at once: the parser's quadratic
// cost stays within a piece, and a piece is large enough that its fixed cost is small.
const splitEntries = 32

// maxSplitDepth bounds how deep nested mappings are split (each level costs a scan of
// its keys' values); deeper ones are parsed whole inside their piece.
const maxSplitDepth = 16

// parseYAMLTokens is parser.Parse(toks, 0) for the tokens the lexer made of data, in
// time linear in the number of tokens for documents made of block mappings.
func parseYAMLTokens(data []byte, toks token.Tokens) (*ast.File, error) {
	if f := splitParse(data, toks, splitEntries); f != nil {
		return f, nil
	}
	// The pieces' parses may have relinked the tokens' Prev and Next fields, which the
	// parser only writes and never reads: parsing the same tokens again is sound.
	return parser.Parse(toks, 0)
}

// yamlSplitter holds one document's tokens (comments dropped, as parser.Parse with mode
// 0 drops them) and which of them begin a line outside any flow collection.
type yamlSplitter struct {
	toks    []*token.Token
	atStart []bool
	per     int // entries per piece
}

// blockMap is a block mapping found in the tokens: the column of its keys and its entries.
type blockMap struct {
	col     int
	entries []mapEntry
}

// mapEntry is one key of a blockMap: the tokens from its key to the end of its value,
// toks[lo:hi] (toks[lo] is the key, toks[lo+1] its ':'), and, when its value is itself a
// mapping large enough to split, that mapping.
type mapEntry struct {
	lo, hi int
	nested *blockMap
}

// parsePath is what one piece's parse gave: the file, and from the root down, the
// mapping at each level and the entry of each level's key that leads to the next.
type parsePath struct {
	file   *ast.File
	levels []*ast.MappingNode
	via    []*ast.MappingValueNode
}

// splitParse returns the AST of a single-document file whose top level is a block mapping
// worth splitting into pieces of at most per entries, or nil when the whole document must
// go to parser.Parse.
func splitParse(data []byte, toks token.Tokens, per int) *ast.File {
	if bytes.IndexByte(data, '\r') >= 0 || bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return nil // line breaks and columns as the lexer counts them are kept simple
	}
	s := &yamlSplitter{toks: make([]*token.Token, 0, len(toks)), per: max(per, 1)}
	for _, tk := range toks {
		switch tk.Type {
		case token.CommentType:
			continue
		case token.DocumentHeaderType, token.DocumentEndType, token.DirectiveType, token.InvalidType:
			return nil
		}
		if tk.Position == nil {
			return nil
		}
		s.toks = append(s.toks, tk)
	}
	if !s.markLineStarts(data) || len(s.toks) == 0 {
		return nil
	}
	top := s.mapping(0, len(s.toks), s.toks[0].Position.Column, 0)
	if top == nil || !s.worthSplitting(top) {
		return nil
	}
	root, path, ok := s.build(top, nil)
	if !ok || len(path.file.Docs) != 1 || path.file.Docs[0].Body != ast.Node(root) {
		return nil
	}
	if hasDuplicateKeyPath(root, len(s.toks)/3) {
		return nil // parser.Parse reports the second definition
	}
	return path.file
}

// markLineStarts sets atStart for every token that is the first thing on its line and
// outside flow collections; false when the tokens' positions do not fit data.
func (s *yamlSplitter) markLineStarts(data []byte) bool {
	// indent[l] is the number of spaces that begin line l (1-based).
	indent := []int{0}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		indent = append(indent, len(line)-len(bytes.TrimLeft(line, " ")))
	}
	s.atStart = make([]bool, len(s.toks))
	depth := 0
	for i, tk := range s.toks {
		l := tk.Position.Line
		if l < 1 || l >= len(indent) {
			return false
		}
		// A block scalar's text follows its | or > as one token, whatever its position.
		afterHeader := i > 0 && (s.toks[i-1].Type == token.LiteralType || s.toks[i-1].Type == token.FoldedType)
		s.atStart[i] = depth == 0 && !afterHeader && tk.Position.Column == indent[l]+1
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			depth++
		case token.SequenceEndType, token.MappingEndType:
			if depth--; depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// isKey reports whether toks[i] begins a block mapping entry written simply: a scalar
// key first on its line and its ':' on the same line.
func (s *yamlSplitter) isKey(i int) bool {
	if !s.atStart[i] || i+1 >= len(s.toks) {
		return false
	}
	switch s.toks[i].Type {
	case token.StringType, token.SingleQuoteType, token.DoubleQuoteType, token.IntegerType,
		token.BinaryIntegerType, token.OctetIntegerType, token.HexIntegerType, token.FloatType,
		token.BoolType, token.NullType, token.InfinityType, token.NanType, token.MergeKeyType:
	default:
		return false
	}
	colon := s.toks[i+1]
	return colon.Type == token.MappingValueType && colon.Position.Line == s.toks[i].Position.Line
}

// opensValue reports whether toks[i], ending a line, leaves a node to be continued on the
// next: a tag, an anchor, a block scalar header or an explicit key's '?'.
func (s *yamlSplitter) opensValue(i int) bool {
	if i < 0 {
		return false
	}
	switch s.toks[i].Type {
	case token.TagType, token.AnchorType, token.LiteralType, token.FoldedType, token.MappingKeyType:
		return true
	}
	return false
}

// mapping reads toks[lo:hi] as a block mapping whose keys are at column col: every line
// that starts at that column must start a key (or a sequence entry of the key's value,
// which YAML allows at the key's column), and none may start left of it. nil otherwise.
func (s *yamlSplitter) mapping(lo, hi, col, depth int) *blockMap {
	if lo >= hi || !s.isKey(lo) || s.toks[lo].Position.Column != col {
		return nil
	}
	m := &blockMap{col: col}
	for i := lo; i < hi; i++ {
		if !s.atStart[i] {
			continue
		}
		switch c := s.toks[i].Position.Column; {
		case c < col:
			return nil
		case c > col, s.toks[i].Type == token.SequenceEntryType, s.isKey(i) && s.opensValue(i-1):
			// A deeper line, a sequence entry, or a key the line before gave a tag or an
			// anchor to (the parser may take the key's mapping as that value): all
			// continue the current entry.
		case s.isKey(i):
			if n := len(m.entries); n > 0 {
				m.entries[n-1].hi = i
			}
			m.entries = append(m.entries, mapEntry{lo: i})
		default:
			return nil
		}
	}
	m.entries[len(m.entries)-1].hi = hi
	if depth+1 >= maxSplitDepth {
		return m
	}
	for i := range m.entries {
		e := &m.entries[i]
		// A value that is a block mapping begins on a later line, deeper than its key.
		if v := e.lo + 2; v < e.hi && s.atStart[v] && s.toks[v].Position.Column > col {
			if nm := s.mapping(v, e.hi, s.toks[v].Position.Column, depth+1); nm != nil && s.worthSplitting(nm) {
				e.nested = nm
			}
		}
	}
	return m
}

// worthSplitting reports whether parsing m in pieces saves anything.
func (s *yamlSplitter) worthSplitting(m *blockMap) bool {
	if len(m.entries) > s.per {
		return true
	}
	for _, e := range m.entries {
		if e.nested != nil {
			return true
		}
	}
	return false
}

// build parses the entries of m, a mapping reached through the keys in chain (each key
// token followed by its ':'), in pieces, and returns the mapping node with all of them
// and the path of its first piece's parse. ok is false when any piece fails or comes out
// in a shape the split does not expect.
func (s *yamlSplitter) build(m *blockMap, chain []*token.Token) (node *ast.MappingNode, first parsePath, ok bool) {
	level := len(chain) / 2
	for i := 0; i < len(m.entries); {
		e := m.entries[i]
		if e.nested != nil {
			inner := append(chain[:len(chain):len(chain)], s.toks[e.lo], s.toks[e.lo+1])
			_, p, ok := s.build(e.nested, inner)
			if !ok {
				return nil, parsePath{}, false
			}
			// The nested mapping's first piece was parsed under e's key: that parse's
			// entry for e, whose value build has completed, is e's node.
			mv := p.via[level]
			if node == nil {
				node, first = p.levels[level], p
				node.Values = node.Values[:0]
			}
			node.Values = append(node.Values, mv)
			i++
			continue
		}
		j := i + 1
		for j < len(m.entries) && j-i < s.per && m.entries[j].nested == nil {
			j++
		}
		p, ok := s.parsePiece(chain, m.entries[i].lo, m.entries[j-1].hi)
		if !ok {
			return nil, parsePath{}, false
		}
		// The piece must give exactly its entries, and the next line's entry when that
		// is a sibling: a different count means the parser saw other boundaries.
		got, hi := p.levels[level], m.entries[j-1].hi
		want := j - i
		if hi < len(s.toks) && s.toks[hi].Position.Column == m.col {
			want++
		}
		if len(got.Values) != want {
			return nil, parsePath{}, false
		}
		for k, mv := range got.Values {
			at := hi
			if k < j-i {
				at = m.entries[i+k].lo
			}
			if mv.Key == nil || mv.Key.GetToken() != s.toks[at] {
				return nil, parsePath{}, false
			}
		}
		if node == nil {
			node, first = got, p
			node.Values = node.Values[:0]
		}
		node.Values = append(node.Values, got.Values[:j-i]...)
		i = j
	}
	return node, first, node != nil
}

// parsePiece parses the entries toks[lo:hi] of one mapping as the parser would meet them
// in the whole document: after the keys that lead to the mapping (chain) and before the
// line that follows them (the next entry's first line, at whatever level), so that each
// entry, its last one included, is read in the same context.
func (s *yamlSplitter) parsePiece(chain []*token.Token, lo, hi int) (p parsePath, ok bool) {
	defer func() {
		// A piece the parser panics on goes to the whole parse, which says what it says.
		if recover() != nil {
			p, ok = parsePath{}, false
		}
	}()
	next := hi
	for next < len(s.toks) && (next == hi || !s.atStart[next]) {
		next++
	}
	piece := make(token.Tokens, 0, len(chain)+next-lo)
	piece = append(append(piece, chain...), s.toks[lo:next]...)
	f, err := parser.Parse(piece, 0)
	if err != nil || len(f.Docs) != 1 || f.Docs[0] == nil {
		return parsePath{}, false
	}
	p = parsePath{file: f}
	n := f.Docs[0].Body
	for l := 0; ; l++ {
		m, ok := n.(*ast.MappingNode)
		if !ok || len(m.Values) == 0 {
			return parsePath{}, false
		}
		p.levels = append(p.levels, m)
		if 2*l == len(chain) {
			return p, true
		}
		mv := m.Values[0]
		if mv.Key == nil || mv.Key.GetToken() != chain[2*l] {
			return parsePath{}, false
		}
		p.via = append(p.via, mv)
		n = mv.Value
	}
}

// hasDuplicateKeyPath reports whether two keys under root have the same path: the parser
// refuses that within one document ("mapping key ... already defined"), and pieces parsed
// apart cannot see it across pieces. keys sizes the set.
func hasDuplicateKeyPath(root ast.Node, keys int) bool {
	seen := make(map[string]bool, keys)
	stack := []ast.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch n := n.(type) {
		case *ast.MappingNode:
			for _, mv := range n.Values {
				stack = append(stack, mv)
			}
		case *ast.MappingValueNode:
			if n.Key != nil {
				p := n.Key.GetPath()
				if seen[p] {
					return true
				}
				seen[p] = true
				stack = append(stack, n.Key)
			}
			stack = append(stack, n.Value)
		case *ast.MappingKeyNode:
			stack = append(stack, n.Value)
		case *ast.SequenceNode:
			stack = append(stack, n.Values...)
		case *ast.AnchorNode:
			stack = append(stack, n.Value)
		case *ast.TagNode:
			stack = append(stack, n.Value)
		}
	}
	return false
}
