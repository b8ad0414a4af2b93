// Package safetext makes untrusted strings safe to show. Certificates, log lines, nginx's
// own output, environment variables and flags reach every output of mtls-doctor; Escape
// neutralises terminal control sequences in them, Scrub removes private keys and tokens,
// and SecretKind tells whether a value that should be a path or a name is key material.
//
// It imports nothing of mtls-doctor's, so probes, diagnostics, the TUI and the command
// can all share the one implementation.
package safetext

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// Clean is Escape(Scrub(s)): what every text, nagios, prometheus, TUI and Markdown output
// applies to a string it did not write itself.
func Clean(s string) string { return Escape(Scrub(s)) }

// CleanLine is Clean for one line of output (a status line, a label value, a table row):
// newlines and tabs are escaped too.
func CleanLine(s string) string { return EscapeLine(Scrub(s)) }

// Escape replaces terminal control characters with visible escapes, keeping newlines and
// tabs: C0 controls and DEL (ESC starts CSI and OSC sequences, BEL ends OSC, CR rewrites
// the line), C1 controls (U+0080–U+009F; U+009B is an 8-bit CSI, ECMA-48 §5.3), bidi
// overrides that reorder what is shown (Unicode TR9, "Trojan Source") and bytes that are
// not UTF-8. Strings without any of these are returned unchanged.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isC1(r) || isBidi(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// EscapeLine is Escape for one-line output (nagios, prometheus, a table cell): newlines
// and tabs are escaped too.
func EscapeLine(s string) string {
	s = Escape(s)
	if !strings.ContainsAny(s, "\n\t") {
		return s
	}
	return strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(s)
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f || c >= 0x80 {
			// Bytes ≥ 0x80 need a closer look; plain ASCII text returns here rarely.
			if c >= 0x80 {
				return needsEscapeUTF8(s[i:])
			}
			return true
		}
	}
	return false
}

func needsEscapeUTF8(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || isC1(r) || isBidi(r) {
			return true
		}
		i += size
	}
	return false
}

func isC1(r rune) bool { return r >= 0x80 && r <= 0x9f }

// isBidi reports the explicit directional embeddings, overrides and isolates.
func isBidi(r rune) bool { return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 }

// Redacted replaces a private key block wherever Scrub finds one.
const Redacted = "[private key removed]"

// The patterns are compiled on first use: package initialisation runs on every start.
var (
	// pemKeyBegin starts a private key block (PKCS#8, PKCS#1, SEC1, encrypted, OpenSSH).
	pemKeyBegin = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`-----BEGIN[^-\n]*PRIVATE KEY-----`) })
	// secretAssign is a token-like setting and its value ("token: abc", "password=x").
	secretAssign = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)\b(token|password|passwd|secret|api[_-]?key|private[_-]?key|authorization)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;|]+)`)
	})
	// bearer is an HTTP bearer credential.
	bearer = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+`) })
	// jwt is a JSON Web Token: three base64url parts, the first a JSON object (RFC 7519).
	jwt = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
	})
)

// Scrub removes private key blocks (with or without their END line), the values of
// token-like settings, bearer credentials and JSON Web Tokens from s. Certificates and
// other public PEM blocks stay.
func Scrub(s string) string {
	if strings.Contains(s, "PRIVATE KEY-----") {
		s = scrubPEMKeys(s)
	}
	bearerShape, assignShape := secretShapes(s)
	if bearerShape {
		s = bearer().ReplaceAllString(s, "${1} [redacted]")
		_, assignShape = secretShapes(s) // secretAssign runs on what bearer left
	}
	if assignShape {
		s = secretAssign().ReplaceAllString(s, "${1}${2}[redacted]")
	}
	if strings.Contains(s, "eyJ") {
		s = jwt().ReplaceAllString(s, "[token removed]")
	}
	return s
}

// secretShapes reports whether bearer and whether secretAssign could match in s, by
// what neither matches without: one of their words starting at a word boundary (\b: the
// byte before is not an ASCII letter, digit or _), followed, for bearer, by blanks and a
// token byte, for secretAssign by an optional quote, blanks and ':' or '='. Every report
// line passes through Scrub (a 10,000-server manager has 200,000 of them, and a healthy
// --check's texts say "private key" and "token" often), and the case-insensitive regexps
// cost microseconds and a visited-state buffer each where this scan costs nanoseconds.
//
// The regexps' (?i) folds Unicode too, and two runes outside ASCII fold to ASCII letters
// (U+017F "ſ" to s, U+212A Kelvin sign to k; unicode.SimpleFold): text holding either is
// passed to both regexps. Other non-ASCII text ("→" in a report line) is skipped like
// punctuation.
func secretShapes(s string) (bearerShape, assignShape bool) {
	for i := 0; i < len(s) && !(bearerShape && assignShape); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u017f' || r == '\u212a' {
				return true, true
			}
			i += size - 1
			continue
		}
		switch c | 0x20 { // ASCII lower case
		case 'b', 't', 'p', 's', 'a':
		default:
			continue
		}
		if i > 0 && isWordByte(s[i-1]) {
			continue
		}
		rest := s[i:]
		if hasPrefixFold(rest, "bearer") && bearerTail(rest[len("bearer"):]) {
			bearerShape = true
		}
		for _, w := range assignWords {
			if !hasPrefixFold(rest, w) {
				continue
			}
			tail := rest[len(w):]
			if w == "api" || w == "private" { // api[_-]?key, private[_-]?key
				if tail != "" && (tail[0] == '_' || tail[0] == '-') {
					tail = tail[1:]
				}
				if !hasPrefixFold(tail, "key") {
					continue
				}
				tail = tail[len("key"):]
			}
			if assignTail(tail) {
				assignShape = true
			}
		}
	}
	return bearerShape, assignShape
}

// bearerShapeOf is secretShapes' first answer.
func bearerShapeOf(s string) bool {
	b, _ := secretShapes(s)
	return b
}

// assignWords are secretAssign's words, lower case ("api" and "private" take "key" after).
var assignWords = [...]string{"token", "password", "passwd", "secret", "api", "private", "authorization"}

// assignTail reports whether t starts as secretAssign's `["']?\s*[:=]` does.
func assignTail(t string) bool {
	if t != "" && (t[0] == '"' || t[0] == '\'') {
		t = t[1:]
	}
	t = strings.TrimLeft(t, reBlanks)
	return t != "" && (t[0] == ':' || t[0] == '=')
}

// bearerTail reports whether t starts as bearer's `\s+[A-Za-z0-9._~+/=-]` does.
func bearerTail(t string) bool {
	rest := strings.TrimLeft(t, reBlanks)
	if len(rest) == len(t) || rest == "" {
		return false
	}
	c := rest[0]
	return isWordByte(c) && c != '_' || strings.IndexByte(".~+/=-", c) >= 0
}

// reBlanks are what \s matches in Go's regexp syntax.
const reBlanks = "\t\n\f\r "

// isWordByte reports an ASCII word character (\w), what \b looks at.
func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// hasPrefixFold is strings.HasPrefix under ASCII case folding; prefix is lower case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if s[i]|0x20 != prefix[i] {
			return false
		}
	}
	return true
}

func scrubPEMKeys(s string) string {
	out, _ := scrubPEMKeysFrom(s, false)
	return out
}

// scrubPEMKeysFrom removes the private key blocks of s; inKey says that s continues a key
// block begun on an earlier line. open reports whether the last block runs to the end of s
// without its END line, so that the next line may continue it.
func scrubPEMKeysFrom(s string, inKey bool) (out string, open bool) {
	var b strings.Builder
	if inKey {
		// As if after a line break: the line continues the body of the block.
		n := pemKeyBodyLen("\n"+s) - 1
		if n <= 0 {
			inKey = false
		} else {
			b.WriteString(Redacted)
			open = n == len(s) && !strings.HasSuffix(s, "PRIVATE KEY-----")
			s = s[n:]
		}
	}
	for {
		loc := pemKeyBegin().FindStringIndex(s)
		if loc == nil {
			b.WriteString(s)
			return b.String(), open
		}
		b.WriteString(s[:loc[0]])
		b.WriteString(Redacted)
		body := s[loc[1] : loc[1]+pemKeyBodyLen(s[loc[1]:])]
		s = s[loc[1]+len(body):]
		open = s == "" && !strings.HasSuffix(body, "PRIVATE KEY-----")
	}
}

// pemKeyBodyLen is the length of the key block's body at the start of s: lines of base64
// and RFC 1421 headers (Proc-Type, DEK-Info), separated by newlines, "\n" as nginx and
// JSON escape them, or spaces (a YAML folded block), then the END line if there is one.
// Anything else ends the block, so a key without an END line removes only the key and the
// text after it stays (RFC 7468 §2 allows nothing else between BEGIN and END).
func pemKeyBodyLen(s string) int {
	n := 0
	for n < len(s) {
		sep, newline := separatorLen(s[n:])
		i := n + sep
		if strings.HasPrefix(s[i:], "-----END ") {
			if end := strings.Index(s[i:], "PRIVATE KEY-----"); end >= 0 && !strings.ContainsAny(s[i:i+end], "\n") {
				return i + end + len("PRIVATE KEY-----")
			}
			return n
		}
		if strings.HasPrefix(s[i:], "Proc-Type:") || strings.HasPrefix(s[i:], "DEK-Info:") {
			j := i
			for j < len(s) && s[j] != '\n' && s[j] != '\\' {
				j++
			}
			n = j
			continue
		}
		tok := 0
		for i+tok < len(s) && isBase64Byte(s[i+tok]) {
			tok++
		}
		if tok == 0 {
			return n
		}
		// A whole line of base64 belongs to the key; after spaces only a long run does,
		// so that the words of a sentence after the key are kept.
		rest, _ := separatorLen(s[i+tok:])
		lineEnds := i+tok == len(s) || hasNewline(s[i+tok:i+tok+rest]) || strings.HasPrefix(s[i+tok+rest:], "-----END ")
		if !(newline && lineEnds || sep > 0 && tok >= 16 || n == 0 && sep == 0) {
			return n
		}
		n = i + tok
	}
	return n
}

// separatorLen is the length of the blank space at the start of s, and whether it holds a
// line break (a real one or an escaped "\n").
func separatorLen(s string) (int, bool) {
	n, newline := 0, false
	for n < len(s) {
		switch {
		case s[n] == ' ' || s[n] == '\t' || s[n] == '\r':
			n++
		case s[n] == '\n':
			n, newline = n+1, true
		case strings.HasPrefix(s[n:], `\n`) || strings.HasPrefix(s[n:], `\r`):
			newline = newline || s[n+1] == 'n'
			n += 2
		default:
			return n, newline
		}
	}
	return n, newline
}

func hasNewline(sep string) bool { return strings.Contains(sep, "\n") || strings.Contains(sep, `\n`) }

func isBase64Byte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

// LineScrubber scrubs a stream of lines, such as a log being followed: a private key cut
// across lines (nginx logs the key of a failing "data:" directive verbatim, line breaks
// included) is removed from every line it spans, not only the line with its BEGIN marker.
// The zero value is ready to use; it is not safe for concurrent use.
type LineScrubber struct{ inKey bool }

// Scrub is Scrub for the next line of the stream.
func (l *LineScrubber) Scrub(line string) string {
	line, l.inKey = scrubPEMKeysFrom(line, l.inKey)
	return Scrub(line)
}

// SecretKind says what a value that should be a path, host or name holds instead when it
// is key material or a token: "PEM data", "base64 data" or "a token"; "" for an ordinary
// value. Such a value must never be echoed; say "tls.key holds PEM data, not a path".
func SecretKind(v string) string {
	t := strings.TrimSpace(v)
	switch {
	case t == "":
		return ""
	case strings.Contains(t, "-----BEGIN "), strings.Contains(t, "PRIVATE KEY-----"):
		return "PEM data"
	// The same cheap tests as Scrub's first: every setting of an agent configuration
	// passes here, and most name neither, so the regexps are not even compiled.
	case strings.Contains(t, "eyJ") && jwt().MatchString(t), bearerShapeOf(t) && bearer().MatchString(t):
		return "a token"
	case looksBase64(t):
		return "base64 data"
	}
	return ""
}

// looksBase64 reports whether v is a run of base64 long enough to be key material (a
// P-256 private key is 121 bytes of DER, 164 characters) that decodes, and mixes cases
// and digits as random bytes do, so that a long path or host name does not qualify.
func looksBase64(v string) bool {
	v = strings.Join(strings.Fields(v), "")
	if len(v) < 40 {
		return false
	}
	var upper, lower, digit, slash bool
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= '0' && c <= '9':
			digit = true
		case c == '/':
			slash = true
		case c == '+' || c == '=' || c == '-' || c == '_':
		default:
			return false
		}
	}
	if !upper || !lower || !digit || slash && strings.Count(v, "/")*16 > len(v) {
		return false // a path has a slash every few characters; base64 one in 64
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if _, err := enc.DecodeString(v); err == nil {
			return true
		}
	}
	return false
}

// Placeholder is what is shown instead of a value of the given SecretKind.
func Placeholder(kind string) string { return "[" + kind + "]" }
