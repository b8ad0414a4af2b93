package logparse

import (
	"strings"
	"time"
)

// ErrorEntry is one line of an NGINX error log (src/core/ngx_log.c, ngx_log_error_core):
//
//	YYYY/MM/DD HH:MM:SS [level] PID#TID: *CONN message[ (errno: text)][ while action][, client: …, server: …, request: "…", upstream: "…", host: "…", referrer: "…"]
type ErrorEntry struct {
	// Time is the line's timestamp. NGINX writes local time without a zone, so it is
	// read in the Location given to ParseErrorLine.
	Time time.Time
	// Level is one of emerg, alert, crit, error, warn, notice, info, debug.
	Level string
	// PID and TID are the worker's process and thread ids.
	PID, TID int
	// Conn is the connection number after "*"; 0 when the line belongs to no connection.
	Conn uint64
	// Message is the text after the header, without the " while …" action and the
	// trailing fields, e.g. "client SSL certificate verify error: (10:certificate has expired)".
	Message string
	// Action is what NGINX was doing ("reading client request headers", "SSL handshaking").
	Action string
	// Client is the peer address; Server is the server_name once a request is known, or
	// the listen address:port during the TLS handshake.
	Client, Server string
	// Request, Subrequest, Upstream, Host and Referrer are the quoted fields, unquoted.
	// Host is the Host header or the HTTP/2 :authority.
	Request, Subrequest, Upstream, Host, Referrer string
}

// errorLevels are NGINX's levels (ngx_log.c err_levels).
var errorLevels = []string{"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"}

// LevelRank returns the severity rank of an NGINX error-log level: 0 for emerg up to 7
// for debug, -1 for an unknown name. error_log LEVEL keeps lines whose rank is ≤ LEVEL's.
func LevelRank(level string) int {
	switch level { // a switch, not a loop: it runs on every line of a scan
	case "emerg":
		return 0
	case "alert":
		return 1
	case "crit":
		return 2
	case "error":
		return 3
	case "warn":
		return 4
	case "notice":
		return 5
	case "info":
		return 6
	case "debug":
		return 7
	}
	return -1
}

// errorFields are the trailing fields, in the order ngx_http_log_error writes them.
var errorFields = [...]string{"client", "server", "request", "subrequest", "upstream", "host", "referrer"}

// ParseErrorLine parses one NGINX error-log line (without its newline). It reports false
// when the line does not start with an error-log header; a header followed by anything
// at all parses, so truncated lines still give their time, level and message.
func ParseErrorLine(line string, loc *time.Location) (ErrorEntry, bool) {
	var e ErrorEntry
	rest, ok := parseErrorHeader(line, loc, nil, &e)
	if ok {
		parseErrorBody(&e, rest, len(errorFields)-1)
	}
	return e, ok
}

// timeCache remembers the last header time parsed: consecutive lines mostly share the
// second. The text is kept in a fixed array, so remembering a new second allocates nothing.
type timeCache struct {
	text [19]byte
	ok   bool
	loc  *time.Location
	t    time.Time
}

// mayBeErrorLine reports whether line has the separators of the time that starts every
// line parseErrorHeader accepts ("YYYY/MM/DD HH:MM:SS").
func mayBeErrorLine(line string) bool {
	return len(line) >= 19 && line[4] == '/' && line[7] == '/' && line[10] == ' ' && line[13] == ':' && line[16] == ':'
}

// parseErrorHeader reads "YYYY/MM/DD HH:MM:SS [level] PID#TID: [*CONN ]" into e and
// returns the rest of the line.
func parseErrorHeader(line string, loc *time.Location, cache *timeCache, e *ErrorEntry) (rest string, ok bool) {
	if len(line) < 19 {
		return "", false
	}
	if cache != nil && cache.ok && cache.loc == loc && string(cache.text[:]) == line[:19] {
		e.Time = cache.t
	} else {
		t, ok := parseErrorTime(line, loc)
		if !ok {
			return "", false
		}
		e.Time = t
		if cache != nil {
			cache.ok, cache.loc, cache.t = true, loc, t
			copy(cache.text[:], line[:19])
		}
	}
	rest = line[19:]
	if len(rest) < 4 || rest[0] != ' ' || rest[1] != '[' {
		return "", false
	}
	end := strings.IndexByte(rest[:min(len(rest), 12)], ']')
	if end < 0 {
		return "", false
	}
	rank := LevelRank(rest[2:end])
	if rank < 0 {
		return "", false
	}
	e.Level = errorLevels[rank] // not an alias of the line
	rest = rest[end+1:]
	if !strings.HasPrefix(rest, " ") {
		return "", false
	}
	rest = rest[1:]
	var n int
	if e.PID, n = atoiPrefix(rest); n == 0 || n >= len(rest) || rest[n] != '#' {
		return "", false
	}
	rest = rest[n+1:]
	if e.TID, n = atoiPrefix(rest); n == 0 || !strings.HasPrefix(rest[n:], ": ") {
		return "", false
	}
	rest = rest[n+2:]
	if strings.HasPrefix(rest, "*") {
		v, n := atoiPrefix(rest[1:])
		if n > 0 && strings.HasPrefix(rest[1+n:], " ") {
			e.Conn = uint64(v)
			rest = rest[n+2:]
		}
	}
	return rest, true
}

// parseErrorBody splits the message, the " while " action and the trailing fields up to
// field index last (len(errorFields)-1 for all).
func parseErrorBody(e *ErrorEntry, rest string, last int) {
	msg := rest
	if i := strings.Index(rest, ", client: "); i >= 0 {
		msg = rest[:i]
		parseErrorFields(e, rest[i+2:], last)
	}
	if i := lastIndex(msg, " while ", 1); i >= 0 { // anchored on the 'w'
		e.Action = msg[i+len(" while "):]
		msg = msg[:i]
	}
	e.Message = msg
}

// lastIndex is strings.LastIndex for a separator that occurs once or not at all in most
// lines, found by a vectorised search for its byte at anchor, which should be a rare
// one: strings.LastIndex compares byte by byte from the end, and strings.Index stops at
// every occurrence of the separator's first byte (for " while ", every space).
func lastIndex(s, sep string, anchor int) int {
	last := -1
	for from := anchor; from < len(s); {
		i := strings.IndexByte(s[from:], sep[anchor])
		if i < 0 {
			break
		}
		at := from + i - anchor
		if at+len(sep) > len(s) {
			break
		}
		if s[at:at+len(sep)] == sep {
			last = at
		}
		from += i + 1
	}
	return last
}

// parseErrorFields reads "client: a, server: b, request: "…", …", up to field index
// last. A value runs up to the
// next ", key: " of a field that may follow it; a quoted value also needs its closing
// quote right before that separator, so a request line holding ", host: " stays whole
// unless it also holds the quote.
func parseErrorFields(e *ErrorEntry, s string, last int) {
	dst := [...]*string{&e.Client, &e.Server, &e.Request, &e.Subrequest, &e.Upstream, &e.Host, &e.Referrer}
	next := 0
	for s != "" {
		// Which field starts here?
		k := -1
		for j := next; j < len(errorFields); j++ {
			name := errorFields[j]
			if len(s) > len(name)+1 && s[:len(name)] == name && s[len(name)] == ':' && s[len(name)+1] == ' ' {
				k = j
				break
			}
		}
		if k < 0 {
			return
		}
		s = s[len(errorFields[k])+2:]
		quoted := strings.HasPrefix(s, `"`)
		end := fieldEnd(s, k, quoted)
		v := s
		if end >= 0 {
			v = s[:end]
		}
		if quoted {
			v = v[1:] // the opening quote
			if end < 0 {
				v = strings.TrimSuffix(v, `"`)
			} else {
				v = v[:len(v)-1] // the closing quote
			}
		}
		*dst[k] = v
		if end < 0 || k >= last {
			return
		}
		s = s[end+len(", "):] // starts with the next "name: "
		next = k + 1
	}
}

// fieldEnd finds the ", " that ends the value of field k at the start of s: the first
// one followed by the name of a later field and ": " (and, for a quoted value, preceded
// by the closing quote, which cannot be the opening one). -1 means the value runs to the
// end of the line.
func fieldEnd(s string, k int, quoted bool) int {
	from := 0
	if quoted {
		from = 2 // past the opening quote and a closing one right after it
	}
	for from < len(s) {
		i := strings.Index(s[from:], ", ")
		if i < 0 {
			return -1
		}
		at := from + i
		if !quoted || s[at-1] == '"' {
			after := s[at+2:]
			for j := k + 1; j < len(errorFields); j++ {
				name := errorFields[j]
				if len(after) > len(name)+1 && after[:len(name)] == name && after[len(name)] == ':' && after[len(name)+1] == ' ' {
					return at
				}
			}
		}
		from = at + 1
	}
	return -1
}

// parseErrorTime reads "YYYY/MM/DD HH:MM:SS" at the start of line.
func parseErrorTime(line string, loc *time.Location) (time.Time, bool) {
	if len(line) < 19 || line[4] != '/' || line[7] != '/' || line[10] != ' ' || line[13] != ':' || line[16] != ':' {
		return time.Time{}, false
	}
	y, ok1 := digits(line[0:4])
	mo, ok2 := digits(line[5:7])
	d, ok3 := digits(line[8:10])
	h, ok4 := digits(line[11:13])
	mi, ok5 := digits(line[14:16])
	s, ok6 := digits(line[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, false
	}
	if loc == nil {
		loc = time.Local
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, loc), true
}

// digits parses a short all-digit string.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// atoiPrefix parses the leading decimal digits of s (at most 18, so it cannot overflow)
// and returns the value and how many bytes it read.
func atoiPrefix(s string) (int, int) {
	n, i := 0, 0
	for i < len(s) && i < 18 && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		i++
	}
	return n, i
}
