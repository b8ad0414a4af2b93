package nginxconf

import (
	"fmt"
	"strings"
)

// What ngx_conf_read_token returns, besides an error.
type stmtEnd int

const (
	endSemicolon  stmtEnd = iota // NGX_OK: the directive ended with ";"
	endBlockStart                // NGX_CONF_BLOCK_START: it ended with "{"
	endBlockDone                 // NGX_CONF_BLOCK_DONE: a "}" with no words before it
	endFile                      // NGX_CONF_FILE_DONE
)

// confBuffer is NGX_CONF_BUFFER. nginx reads a file through a buffer this size and
// rejects a token (or a comment) that fills it while more of the file is still unread.
const confBuffer = 4096

type word struct {
	text string
	line int
}

// lexer is a transcription of ngx_conf_read_token over an in-memory file. It keeps
// nginx's state variables so that its errors and lines are nginx's.
type lexer struct {
	file string
	data []byte
	pos  int
	line int // cf->conf_file->line: 1 + the number of LFs read so far
	// words is next's result, reused: the parser copies what it keeps before the next call.
	words []word
	// interned maps a word as written to its text, shared by every file of a parse
	// (nil: no interning). A fleet's configuration repeats the same names, paths and
	// values thousands of times; each is kept once.
	interned map[string]string
}

// maxInterned bounds the interned words; past it, new words are copied as they come.
const maxInterned = 1 << 17

func newLexer(file string, data []byte, interned map[string]string) *lexer {
	return &lexer{file: file, data: data, line: 1, interned: interned}
}

// text returns the word b (escapes applied), one string per distinct word.
func (lx *lexer) text(b []byte) string {
	if lx.interned == nil {
		return unescape(b)
	}
	if s, ok := lx.interned[string(b)]; ok { // the lookup does not copy b
		return s
	}
	s := unescape(b)
	if len(lx.interned) < maxInterned {
		key := s
		if len(s) != len(b) { // escapes were applied: the key is the word as written
			key = string(b)
		}
		lx.interned[key] = s
	}
	return s
}

func (lx *lexer) errorf(line int, format string, a ...any) *Error {
	return &Error{File: lx.file, Line: line, Msg: fmt.Sprintf(format, a...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// next reads one statement: the words of a directive and what ended it.
func (lx *lexer) next() ([]word, stmtEnd, *Error) {
	words := lx.words[:0]
	defer func() { lx.words = words[:0] }()
	var (
		needSpace    bool
		lastSpace    = true
		sharpComment bool
		variable     bool
		quoted       bool
		sQuoted      bool
		dQuoted      bool
		start        = lx.pos
		startLine    = lx.line
	)
	for {
		if lx.pos-start >= confBuffer && lx.pos < len(lx.data) {
			switch {
			case dQuoted:
				return nil, 0, lx.errorf(startLine, `too long parameter, probably missing terminating """ character`)
			case sQuoted:
				return nil, 0, lx.errorf(startLine, `too long parameter, probably missing terminating "'" character`)
			}
			return nil, 0, lx.errorf(startLine, `too long parameter "%s..." started`, lx.data[start:start+10])
		}
		if lx.pos >= len(lx.data) {
			if len(words) > 0 || !lastSpace {
				return nil, 0, lx.errorf(lx.line, `unexpected end of file, expecting ";" or "}"`)
			}
			return nil, endFile, nil
		}
		ch := lx.data[lx.pos]
		lx.pos++
		if ch == '\n' {
			lx.line++
			sharpComment = false
		}
		if sharpComment {
			continue
		}
		if quoted {
			quoted = false
			continue
		}
		if needSpace {
			switch {
			case isSpace(ch):
				lastSpace, needSpace = true, false
				continue
			case ch == ';':
				return words, endSemicolon, nil
			case ch == '{':
				return words, endBlockStart, nil
			case ch == ')':
				// `if ($a = "b")`: the ")" starts a word of its own.
				lastSpace, needSpace = true, false
			default:
				return nil, 0, lx.errorf(lx.line, `unexpected "%s"`, string(ch))
			}
		}
		if lastSpace {
			start, startLine = lx.pos-1, lx.line
			if isSpace(ch) {
				continue
			}
			switch ch {
			case ';', '{':
				if len(words) == 0 {
					return nil, 0, lx.errorf(lx.line, `unexpected "%s"`, string(ch))
				}
				if ch == '{' {
					return words, endBlockStart, nil
				}
				return words, endSemicolon, nil
			case '}':
				if len(words) != 0 {
					return nil, 0, lx.errorf(lx.line, `unexpected "}"`)
				}
				return nil, endBlockDone, nil
			case '#':
				sharpComment = true
				continue
			case '\\':
				quoted = true
			case '"':
				start++
				dQuoted = true
			case '\'':
				start++
				sQuoted = true
			case '$':
				variable = true
			}
			lastSpace = false
			continue
		}

		// Inside a word.
		if ch == '{' && variable {
			continue // ${var} does not open a block
		}
		variable = false
		if ch == '\\' {
			quoted = true
			continue
		}
		if ch == '$' {
			variable = true
			continue
		}
		found := false
		switch {
		case dQuoted:
			if ch == '"' {
				dQuoted, needSpace, found = false, true, true
			}
		case sQuoted:
			if ch == '\'' {
				sQuoted, needSpace, found = false, true, true
			}
		case isSpace(ch) || ch == ';' || ch == '{':
			lastSpace, found = true, true
		}
		if !found {
			continue
		}
		words = append(words, word{text: lx.text(lx.data[start : lx.pos-1]), line: startLine})
		switch ch {
		case ';':
			return words, endSemicolon, nil
		case '{':
			return words, endBlockStart, nil
		}
	}
}

// unescape applies nginx's word escapes: \" \' \\ \t \r \n. Any other backslash stays.
func unescape(b []byte) string {
	if !strings.ContainsRune(string(b), '\\') {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case '"', '\'', '\\':
				i++
			case 't':
				out = append(out, '\t')
				i++
				continue
			case 'r':
				out = append(out, '\r')
				i++
				continue
			case 'n':
				out = append(out, '\n')
				i++
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}

// luaBody skips the body of a *_by_lua_block after its "{" and returns it verbatim,
// without the closing brace. It understands Lua strings, "--" comments and long
// brackets ([[…]], [==[…]==], --[[…]]), so a "}" inside any of them does not close
// the block. This mirrors lua-nginx-module's tokenizer and its error texts (not
// checked against a real nginx: Debian's 1.22 here has no Lua module).
func (lx *lexer) luaBody() (string, *Error) {
	begin := lx.pos
	depth := 1
	d := lx.data
	for lx.pos < len(d) {
		ch := d[lx.pos]
		switch {
		case ch == '\n':
			lx.line++
			lx.pos++
		case ch == '{':
			depth++
			lx.pos++
		case ch == '}':
			depth--
			lx.pos++
			if depth == 0 {
				return string(d[begin : lx.pos-1]), nil
			}
		case ch == '"' || ch == '\'':
			lx.pos++
			for lx.pos < len(d) && d[lx.pos] != ch {
				if d[lx.pos] == '\\' && lx.pos+1 < len(d) {
					lx.pos++
				}
				if d[lx.pos] == '\n' {
					lx.line++
				}
				lx.pos++
			}
			lx.pos++ // closing quote
		case ch == '-' && lx.pos+1 < len(d) && d[lx.pos+1] == '-':
			lx.pos += 2
			if ok, err := lx.longBracket(); err != nil {
				return "", err
			} else if ok {
				continue
			}
			for lx.pos < len(d) && d[lx.pos] != '\n' {
				lx.pos++
			}
		case ch == '[':
			if ok, err := lx.longBracket(); err != nil {
				return "", err
			} else if !ok {
				lx.pos++
			}
		default:
			lx.pos++
		}
	}
	return "", lx.errorf(lx.line, "unexpected end of file, expecting terminating characters for lua code block")
}

// longBracket skips a Lua long bracket ([[…]] or [=*[…]=*]) at lx.pos and reports
// whether there was one; an unclosed one is lua-nginx-module's error.
func (lx *lexer) longBracket() (bool, *Error) {
	d := lx.data
	i := lx.pos
	if i >= len(d) || d[i] != '[' {
		return false, nil
	}
	i++
	level := 0
	for i < len(d) && d[i] == '=' {
		level++
		i++
	}
	if i >= len(d) || d[i] != '[' {
		return false, nil
	}
	closing := "]" + strings.Repeat("=", level) + "]"
	end := strings.Index(string(d[i+1:]), closing)
	if end < 0 {
		return false, lx.errorf(lx.line, "Lua code block missing the closing long bracket %q, the inlined Lua code may be too long", closing)
	}
	stop := i + 1 + end + len(closing)
	lx.line += strings.Count(string(d[lx.pos:stop]), "\n")
	lx.pos = stop
	return true, nil
}
