package logparse

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Format is a compiled NGINX log_format: the format string split into literal text and
// variables, ready to parse the lines it writes.
//
// A variable's value runs up to the next literal text of the format. NGINX's default
// escaping writes `"` as \x22 and JSON escaping as \", so a quoted variable cannot end
// early; with escape=none a value holding the text that follows it in the format is cut
// there. Two variables with nothing between them are split at the first space.
type Format struct {
	// Name is the log_format name ("combined", "main_ext", …).
	Name string
	// Escape is "default", "json" or "none".
	Escape string
	// Text is the format string as NGINX compiles it (its parts joined).
	Text string

	segs []segment
	time int // index of the time variable in segs, -1 if none
	// status and grpc are the indexes of $status and of the first grpc_status variable,
	// -1 if none: once both are known to rule a line out, the scan stops matching it.
	status, grpc int
	// decide is the last of time, status and grpc: the segment after which scanLine can
	// tell, -1 when the format lacks the time or $status.
	decide int
}

type segment struct {
	lit string // literal text; "" for a variable
	// anchor is the index in lit of the byte searched for first (indexLit): a
	// punctuation mark rather than a space, which most values hold.
	anchor int
	name   string // variable name without "$"
	// named: the variable fills a named field of AccessEntry (or is the time), so
	// classification needs its value; the others are only located, never copied.
	named bool
	// role is what scanLine reads the variable for before it decides.
	role varRole
}

// varRole is what the scan's first look at a line (scanLine) does with a variable's value.
type varRole uint8

const (
	roleNone   varRole = iota // skipped
	roleTime                  // the format's time
	roleStatus                // $status
	roleGRPC                  // a grpc_status variable
)

// The formats the product meets most: NGINX's predefined combined, and the main_ext and
// grpc_json formats from the NGINX Instance Manager setup guides (shared/seeds). grpc_json
// is copied as published, including the missing comma before "rx-bytes".
const (
	CombinedFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
	MainExtFormat  = `$remote_addr - $remote_user [$time_local] "$request" ` + `$status $body_bytes_sent "$http_referrer" "$http2" ` +
		`"$http_user_agent" "$http_x_forwarded_for" ` + `"$host" sn="$server_name" ` + `rt=$request_time ` +
		`ua="$upstream_addr" us="$upstream_status" ` + `ut="$upstream_response_time" ul="$upstream_response_length" ` +
		`cs=$upstream_cache_status $request_id`
	GRPCJSONFormat = `{"timestamp":"$time_iso8601","client":"$remote_addr",` + `"uri":"$uri","http-status":$status,` +
		`"grpc-status":$grpc_status,"upstream":"$upstream_addr"` + `"rx-bytes":$request_length,"tx-bytes":$bytes_sent}`
)

// Combined, MainExt and GRPCJSON are the predefined formats compiled.
var (
	Combined = mustCompile("combined", CombinedFormat, "default")
	MainExt  = mustCompile("main_ext", MainExtFormat, "default")
	GRPCJSON = mustCompile("grpc_json", GRPCJSONFormat, "json")
)

func mustCompile(name, text, escape string) *Format {
	f, err := CompileFormat(name, text, escape)
	if err != nil {
		panic(err)
	}
	return f
}

// CompileFormat compiles a log_format string. escape is the escape= parameter ("" means
// "default"). It fails only on formats NGINX itself would refuse: an unknown escape, an
// empty format, or "${" without its "}".
func CompileFormat(name, text, escape string) (*Format, error) {
	switch escape {
	case "":
		escape = "default"
	case "default", "json", "none":
	default:
		return nil, fmt.Errorf("log_format %s: unknown escape %q (want default, json or none)", name, escape)
	}
	if text == "" {
		return nil, fmt.Errorf("log_format %s: empty format", name)
	}
	f := &Format{Name: name, Escape: escape, Text: text, time: -1, status: -1, grpc: -1}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.segs = append(f.segs, segment{lit: lit.String(), anchor: anchorOf(lit.String())})
			lit.Reset()
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c != '$' || i+1 == len(text) {
			lit.WriteByte(c)
			i++
			continue
		}
		var v string
		if text[i+1] == '{' {
			end := strings.IndexByte(text[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("log_format %s: the closing bracket in %q variable is missing", name, text[i:])
			}
			v, i = text[i+2:i+2+end], i+3+end
		} else {
			j := i + 1
			for j < len(text) && isVarChar(text[j]) {
				j++
			}
			v, i = text[i+1:j], j
		}
		if v == "" {
			lit.WriteByte('$')
			continue
		}
		flush()
		if f.time < 0 && (v == "time_local" || v == "time_iso8601" || v == "msec") {
			f.time = len(f.segs)
		}
		switch {
		case v == "status" && f.status < 0:
			f.status = len(f.segs)
		case strings.Contains(v, "grpc_status") && f.grpc < 0:
			f.grpc = len(f.segs)
		}
		seg := segment{name: v, named: f.time == len(f.segs) || namedVar(v)}
		switch {
		case f.time == len(f.segs):
			seg.role = roleTime
		case v == "status":
			seg.role = roleStatus
		case strings.Contains(v, "grpc_status"):
			seg.role = roleGRPC
		}
		f.segs = append(f.segs, seg)
	}
	flush()
	f.decide = -1
	if f.time >= 0 && f.status >= 0 {
		f.decide = max(f.time, f.status, f.grpc)
	}
	return f, nil
}

func isVarChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Var is one variable of an access-log line.
type Var struct {
	Name  string
	Value string
}

// AccessEntry is one access-log line. The named fields are filled from the variables
// that carry them when the format has them; Vars has every variable.
type AccessEntry struct {
	// Time is from $time_local, $time_iso8601 or $msec; zero when the format has none.
	Time time.Time
	// RemoteAddr is $remote_addr.
	RemoteAddr string
	// Request is $request ("POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0").
	Request string
	// URI is $uri, else $request_uri, else the path of Request.
	URI string
	// Status is $status, 0 when absent. NGINX logs 495/496/497 as 400
	// (src/http/ngx_http_special_response.c sets err_status; ngx_http_log_module.c logs it).
	Status int
	// SSLClientVerify is $ssl_client_verify: SUCCESS, FAILED:<reason> or NONE.
	SSLClientVerify string
	// SSLClientSDN and SSLClientIDN are $ssl_client_s_dn and $ssl_client_i_dn.
	SSLClientSDN, SSLClientIDN string
	// GRPCStatus is the first variable whose name holds "grpc_status" ($grpc_status of
	// the seeds' map, $upstream_trailer_grpc_status, $sent_http_grpc_status, …); "" when
	// empty, which the seeds' JSON format writes as `"grpc-status":,`.
	GRPCStatus string
	// Host is $host or $http_host.
	Host string
	// UserAgent is $http_user_agent.
	UserAgent string
	// UpstreamStatus and UpstreamAddr are $upstream_status and $upstream_addr, lists
	// when NGINX tried several servers ("502, 400").
	UpstreamStatus, UpstreamAddr string
	// Partial is true when the line ended before the format did (a truncated line).
	Partial bool
	// Vars are the variables in format order, unescaped; "-" (NGINX's empty value) is "".
	Vars []Var
}

// Var returns the value of the named variable and whether the format has it.
func (e *AccessEntry) Var(name string) (string, bool) {
	for _, v := range e.Vars {
		if v.Name == name {
			return v.Value, true
		}
	}
	return "", false
}

// Parse parses one line written with f. It reports false when the line does not follow
// the format; a line cut short after at least one variable parses with Partial set.
func (f *Format) Parse(line string, loc *time.Location) (AccessEntry, bool) {
	var e AccessEntry
	e.Vars = make([]Var, 0, len(f.segs)/2+1)
	ok := f.match(line, loc, &e, true, nil)
	return e, ok
}

// match is Parse into e, or, without vars, the history scan's shortcut: it fills only
// the named fields and leaves Vars nil, so the values nothing reads are neither
// unescaped nor copied; and once the time is read and the status (with the grpc status,
// when the format has one) rules out every event ClassifyAccess reports, it accepts the
// line without matching the rest. Most lines of a busy access log are such lines. A line
// whose tail does not follow the format is then counted as read rather than unparsed;
// any line that may be an event is matched whole, as Parse does.
//
// times, when not nil, remembers the last time read across calls (see accessTimes).
func (f *Format) match(line string, loc *time.Location, e *AccessEntry, vars bool, times *accessTimes) bool {
	return f.matchFrom(line, loc, e, vars, times, 0, 0, 0, 0)
}

// matchFrom is match from segment from on, at byte pos of line, with lits literals and
// seen variables read before it.
func (f *Format) matchFrom(line string, loc *time.Location, e *AccessEntry, vars bool, times *accessTimes, from, pos, lits, seen int) bool {
	for i := from; i < len(f.segs); i++ {
		s := &f.segs[i]
		if s.name == "" {
			if pos == len(line) && seen > 0 {
				e.Partial = true
				break
			}
			if !strings.HasPrefix(line[pos:], s.lit) {
				if seen > 0 && strings.HasPrefix(s.lit, line[pos:]) {
					e.Partial = true
					break
				}
				return false
			}
			pos += len(s.lit)
			lits++
			continue
		}
		end, partial := f.valueSpan(line, pos, i)
		e.Partial = e.Partial || partial
		raw := line[pos:end]
		pos = end
		seen++
		if vars || s.named {
			v := f.unescape(raw)
			if vars {
				e.Vars = append(e.Vars, Var{Name: s.name, Value: v})
			}
			if i == f.time {
				e.Time = times.parse(s.name, v, loc)
			} else {
				e.set(s.name, v)
			}
		}
		if e.Partial {
			break
		}
		if !vars && s.named && f.ruledOut(i, e) {
			return true
		}
	}
	if !e.Partial && pos != len(line) {
		return false
	}
	if e.URI == "" && e.Request != "" {
		if _, rest, ok := strings.Cut(e.Request, " "); ok {
			e.URI, _, _ = strings.Cut(rest, " ")
		}
	}
	// A cut-short line must still have shown the format's shape: any text matches its
	// first variable alone.
	return seen > 0 && (!e.Partial || lits >= 2)
}

// valueSpan returns where the value of variable segment i, which starts at pos, ends: at
// the literal text that follows it, at the next space when a variable follows it, or at
// the end of the line. partial reports a line that ends before the literal.
func (f *Format) valueSpan(line string, pos, i int) (end int, partial bool) {
	switch {
	case i+1 < len(f.segs) && f.segs[i+1].name == "":
		if n := f.valueEnd(line[pos:], &f.segs[i+1]); n >= 0 {
			return pos + n, false
		}
		return len(line), true
	case i+1 < len(f.segs):
		if n := strings.IndexByte(line[pos:], ' '); n >= 0 {
			return pos + n, false
		}
	}
	return len(line), false
}

// maxQuickNamed bounds the named variables scanLine locates before it decides; a format
// with more before its time and status is read by match alone.
const maxQuickNamed = 8

// scanLine is match without Vars (the scan's) in two steps. It first walks the format
// only up to f.decide, locating the variables without copying them and reading just
// the time, the status and the grpc status: when those rule the line out (ruledOut
// holds there, as match would find) it returns ok and ruledOut with only e.Time set,
// and most lines of a busy access log end here. Otherwise it fills the named fields
// located so far and goes on where match would. A line the first step cannot follow (a
// cut line, a literal that differs) is read by match from the start. e may hold
// anything on entry.
func (f *Format) scanLine(line string, loc *time.Location, e *AccessEntry, times *accessTimes) (ok, ruledOut bool) {
	if f.decide < 0 {
		*e = AccessEntry{}
		return f.match(line, loc, e, false, times), false
	}
	var named, starts, ends [maxQuickNamed]int
	n := 0
	var t time.Time
	status, grpc, pos, lits, seen := 0, "", 0, 0, 0
	for i := 0; i <= f.decide; i++ {
		s := &f.segs[i]
		if s.name == "" {
			// After a variable, valueSpan found this literal where the value ends.
			if i == 0 && !strings.HasPrefix(line, s.lit) {
				*e = AccessEntry{}
				return f.match(line, loc, e, false, times), false
			}
			pos += len(s.lit)
			lits++
			continue
		}
		end, partial := f.valueSpan(line, pos, i)
		if partial || s.named && n == maxQuickNamed {
			*e = AccessEntry{}
			return f.match(line, loc, e, false, times), false
		}
		raw := line[pos:end]
		if s.named {
			named[n], starts[n], ends[n] = i, pos, end
			n++
		}
		pos = end
		seen++
		switch s.role {
		case roleTime:
			t = times.parse(s.name, f.unescape(raw), loc)
		case roleStatus: // as AccessEntry.set reads it
			if v := f.unescape(raw); len(v) > 0 && len(v) <= 3 {
				if num, k := atoiPrefix(v); k == len(v) {
					status = num
				}
			}
		case roleGRPC: // the first non-empty one, as AccessEntry.set keeps
			if grpc == "" {
				grpc = f.unescape(raw)
			}
		}
	}
	if !mayClassifyStatus(status) && (f.grpc < 0 || grpc != "16") {
		e.Time = t
		return true, true
	}
	*e = AccessEntry{}
	for k := range n {
		if i := named[k]; i == f.time {
			e.Time = t
		} else {
			e.set(f.segs[i].name, f.unescape(line[starts[k]:ends[k]]))
		}
	}
	return f.matchFrom(line, loc, e, false, times, f.decide+1, pos, lits, seen), false
}

// ruledOut reports whether the line, read up to segment i into e, can be no event:
// its time is known and its status and grpc status are not ones ClassifyAccess reports.
func (f *Format) ruledOut(i int, e *AccessEntry) bool {
	if f.time < 0 || f.status < 0 || i < f.time || i < f.status || mayClassifyStatus(e.Status) {
		return false
	}
	return f.grpc < 0 || i >= f.grpc && e.GRPCStatus != "16"
}

// valueEnd finds where a variable's value ends: at the next occurrence of the literal
// lit. Under JSON escaping a quote preceded by an odd number of backslashes is part of
// the value.
func (f *Format) valueEnd(s string, lit *segment) int {
	if f.Escape != "json" || lit.lit[0] != '"' {
		return indexLit(s, lit.lit, lit.anchor)
	}
	off := 0
	for {
		n := indexLit(s[off:], lit.lit, lit.anchor)
		if n < 0 {
			return -1
		}
		at := off + n
		bs := 0
		for k := at - 1; k >= 0 && s[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 0 {
			return at
		}
		off = at + 1
	}
}

// indexLit is strings.Index(s, lit), found by a vectorised search for lit[anchor]: a
// rare byte skips from one candidate to the next in long strides, where strings.Index
// stops at every occurrence of lit's first byte (often a space).
func indexLit(s, lit string, anchor int) int {
	c := lit[anchor]
	for from := anchor; from < len(s); {
		i := strings.IndexByte(s[from:], c)
		if i < 0 {
			return -1
		}
		at := from + i - anchor
		if at+len(lit) > len(s) {
			return -1 // every later candidate ends further out
		}
		if s[at:at+len(lit)] == lit {
			return at
		}
		from += i + 1
	}
	return -1
}

// anchorOf picks the byte of a literal that indexLit searches for: the first
// punctuation mark, else the first letter or digit, else the first byte.
func anchorOf(lit string) int {
	best, rank := 0, 3
	for i := 0; i < len(lit); i++ {
		var r int
		switch c := lit[i]; {
		case c == ' ' || c == '\t':
			r = 3
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			r = 2
		default:
			r = 1
		}
		if r < rank {
			best, rank = i, r
		}
	}
	return best
}

// unescape undoes NGINX's escaping and maps the empty-value "-" to "".
func (f *Format) unescape(v string) string {
	if f.Escape != "json" && v == "-" {
		return ""
	}
	if strings.IndexByte(v, '\\') < 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 == len(v) || f.Escape == "none" {
			b.WriteByte(c)
			continue
		}
		n := v[i+1]
		switch {
		case f.Escape == "default" && n == 'x' && i+3 < len(v) && isHex(v[i+2]) && isHex(v[i+3]):
			b.WriteByte(unhex(v[i+2])<<4 | unhex(v[i+3]))
			i += 3
		case f.Escape == "json" && n == 'u' && i+5 < len(v):
			r, err := strconv.ParseUint(v[i+2:i+6], 16, 16)
			if err != nil {
				b.WriteByte(c)
				continue
			}
			b.WriteRune(rune(r))
			i += 5
		case f.Escape == "json" && strings.IndexByte(`"\/bfnrt`, n) >= 0:
			b.WriteByte(jsonUnescape(n))
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func jsonUnescape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // " \ /
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// namedVar reports whether set stores the variable in a named field of AccessEntry.
func namedVar(name string) bool {
	switch name {
	case "remote_addr", "request", "uri", "request_uri", "status", "ssl_client_verify",
		"ssl_client_s_dn", "ssl_client_i_dn", "host", "http_host", "http_user_agent", "upstream_status", "upstream_addr":
		return true
	}
	return strings.Contains(name, "grpc_status")
}

// set stores one variable's value in the named field that carries it (namedVar).
func (e *AccessEntry) set(name, v string) {
	switch {
	case name == "remote_addr":
		e.RemoteAddr = v
	case name == "request":
		e.Request = v
	case name == "uri" || name == "request_uri" && e.URI == "":
		e.URI = v
	case name == "status":
		if n, k := atoiPrefix(v); k == len(v) && k > 0 && k <= 3 {
			e.Status = n
		}
	case name == "ssl_client_verify":
		e.SSLClientVerify = v
	case name == "ssl_client_s_dn":
		e.SSLClientSDN = v
	case name == "ssl_client_i_dn":
		e.SSLClientIDN = v
	case name == "host" || name == "http_host" && e.Host == "":
		e.Host = v
	case name == "http_user_agent":
		e.UserAgent = v
	case name == "upstream_status":
		e.UpstreamStatus = v
	case name == "upstream_addr":
		e.UpstreamAddr = v
	case strings.Contains(name, "grpc_status") && e.GRPCStatus == "":
		e.GRPCStatus = v
	}
}

// accessTimes remembers the last access-log time read: consecutive lines of a log mostly
// share their second, and the scan reads the time of every line. The text is kept in a
// fixed array so that remembering it allocates nothing (a $msec differs on most lines).
type accessTimes struct {
	name string
	loc  *time.Location
	text [32]byte
	n    int
	t    time.Time
}

// parse is parseAccessTime's time, from the last call when name, v and loc are the same.
// A nil cache parses every time.
func (c *accessTimes) parse(name, v string, loc *time.Location) time.Time {
	if c != nil && c.n == len(v) && c.name == name && c.loc == loc && string(c.text[:c.n]) == v {
		return c.t
	}
	t, _ := parseAccessTime(name, v, loc)
	if c != nil && len(v) <= len(c.text) {
		c.name, c.loc, c.t = name, loc, t // name is the format's own string, not the line's
		c.n = copy(c.text[:], v)
	}
	return t
}

var months = map[string]time.Month{
	"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
	"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}

// parseAccessTime reads $time_local ("22/Nov/2026:16:05:53 +0000"), $time_iso8601
// ("2026-11-22T16:05:53+00:00") or $msec ("1795450000.123").
func parseAccessTime(name, v string, loc *time.Location) (time.Time, bool) {
	switch name {
	case "time_local":
		// 02/Jan/2006:15:04:05 -0700, parsed by hand: it is on every line of a scan.
		if len(v) != 26 || v[2] != '/' || v[6] != '/' || v[11] != ':' || v[14] != ':' || v[17] != ':' || v[20] != ' ' {
			return time.Time{}, false
		}
		d, ok1 := digits(v[0:2])
		mo, ok2 := months[v[3:6]]
		y, ok3 := digits(v[7:11])
		h, ok4 := digits(v[12:14])
		mi, ok5 := digits(v[15:17])
		s, ok6 := digits(v[18:20])
		zh, ok7 := digits(v[22:24])
		zm, ok8 := digits(v[24:26])
		if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) || (v[21] != '+' && v[21] != '-') {
			return time.Time{}, false
		}
		off := (zh*60 + zm) * 60
		if v[21] == '-' {
			off = -off
		}
		return time.Date(y, mo, d, h, mi, s, 0, fixedZone(off)), true
	case "time_iso8601":
		t, err := time.Parse(time.RFC3339, v)
		return t, err == nil
	case "msec":
		sec, frac, _ := strings.Cut(v, ".")
		s, n := atoiPrefix(sec)
		if n == 0 || n != len(sec) {
			return time.Time{}, false
		}
		ms, _ := atoiPrefix(frac)
		return time.Unix(int64(s), int64(ms)*int64(time.Millisecond)).In(locOrLocal(loc)), true
	}
	return time.Time{}, false
}

// zones caches fixed zones by offset (time.FixedZone allocates); scans share it.
var zones sync.Map // int → *time.Location

func fixedZone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if z, ok := zones.Load(off); ok {
		return z.(*time.Location)
	}
	z, _ := zones.LoadOrStore(off, time.FixedZone("", off))
	return z.(*time.Location)
}

func locOrLocal(loc *time.Location) *time.Location {
	if loc == nil {
		return time.Local
	}
	return loc
}

// validUTF8 replaces invalid UTF-8 so text copied into events renders and marshals cleanly.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
