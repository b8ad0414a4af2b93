package logparse

import (
	"time"
	"unicode/utf8"
)

// Type says how a log file's lines are read.
type Type string

const (
	// TypeAuto detects each line's format: NGINX error log, agent, then access log.
	TypeAuto Type = ""
	// TypeNginxError is an NGINX error_log.
	TypeNginxError Type = "nginx-error"
	// TypeNginxAccess is an NGINX access_log in one of Parser.Formats.
	TypeNginxAccess Type = "nginx-access"
	// TypeAgent is the agent's agent.log (v2 or v3).
	TypeAgent Type = "agent"
)

// LineStatus is what became of one line.
type LineStatus int

const (
	// LineUnparsed: the line fits none of the formats (a continuation, a panic stack,
	// binary garbage). It has no time.
	LineUnparsed LineStatus = iota
	// LineUnclassified: the line parsed but is not about the agent's mTLS connection.
	LineUnclassified
	// LineClassified: the line is an Event.
	LineClassified
	// LineOwnProbe: the line records mtls-doctor's own probe (OwnProbe), not an agent.
	LineOwnProbe
)

// MaxLineBytes caps the verbatim line kept in an Event; NGINX itself cuts error-log lines
// at 2048 bytes (NGX_MAX_ERROR_STR).
const MaxLineBytes = 4096

// Parser parses and classifies the lines of one log. It remembers which access format
// matched last, so it is not safe for concurrent use; make one per goroutine.
type Parser struct {
	// Type is the log's type; TypeAuto detects it per line.
	Type Type
	// Formats are the access-log formats to try, in order; nil means Combined, MainExt
	// and GRPCJSON.
	Formats []*Format
	// Location is the zone of NGINX error-log times, which carry none; nil means
	// time.Local.
	Location *time.Location

	last        int         // index into formats of the last match
	times       timeCache   // the last error-log header time
	accessTimes accessTimes // the last access-log time
	// markChecked says the caller found no OwnProbeMark in the block holding the lines
	// it parses next, so OwnProbe need not search each line again.
	markChecked bool
	// entry is the access-log entry being read (its strings alias the line).
	entry AccessEntry
	// rests remembers how recent error lines classified (made on the first one).
	rests *restCache
	// verifyDetail is the last access event's "$ssl_client_verify …" Detail, reused while
	// the result repeats.
	verifyDetail string
	// scan says the events feed a Summary, which keeps no Server: NGINX error lines are
	// split up to the client only.
	scan bool
	// own are the probe's stream connections seen so far (ownprobe.go), and conn the
	// connection of the last line parsed (zero when it named none).
	own  ownConns
	conn connKey
}

// DefaultFormats are the access formats tried when Parser.Formats is nil.
var DefaultFormats = []*Format{Combined, MainExt, GRPCJSON}

// Parse parses and classifies one line (without its newline). The event is the zero
// Event unless the line is LineClassified; its Line is a copy of line cut at
// MaxLineBytes and made valid UTF-8, so the caller may reuse line's memory.
//
// Lines about mtls-doctor's own probe (OwnProbe) are LineOwnProbe, with no event: what
// the probe met is judged from the probe, not as an agent's.
func (p *Parser) Parse(line string) (Event, time.Time, LineStatus) {
	var ev Event
	t, st := p.parse(line, &ev)
	if st != LineClassified {
		ev = Event{}
	} else {
		ev.Line = Clip(line)
	}
	return ev, t, st
}

// parse is Parse without the copy of the line. It fills *ev only when the line is
// LineClassified (ev may hold anything otherwise): the scan passes the same Event for
// every line, and most lines are no event.
func (p *Parser) parse(line string, ev *Event) (time.Time, LineStatus) {
	t, st := p.parseLine(line, ev)
	if st != LineUnparsed && !p.markChecked && OwnProbe(line) {
		return t, LineOwnProbe
	}
	return t, st
}

func (p *Parser) parseLine(line string, ev *Event) (time.Time, LineStatus) {
	p.conn = connKey{}
	if p.Type == TypeNginxError || p.Type == TypeAuto && mayBeErrorLine(line) {
		var e ErrorEntry
		if rest, ok := parseErrorHeader(line, p.Location, &p.times, &e); ok {
			if e.Conn != 0 {
				if p.ownConn(&e, rest) {
					return e.Time, LineOwnProbe
				}
				p.conn = connKey{e.PID, e.Conn}
			}
			last, ok := mayClassifyError(rest)
			if !ok {
				return e.Time, LineUnclassified
			}
			if p.scan && last == 1 {
				last = 0 // no summary keeps the server: the client is enough
			}
			if p.rests == nil {
				p.rests = new(restCache)
			}
			return e.Time, classified(p.rests.classify(&e, rest, last, ev))
		} else if p.Type == TypeNginxError {
			return time.Time{}, LineUnparsed
		}
	}
	// Only lines that start as ParseAgentLine's formats do are decoded: most lines of an
	// access log read as the command line does (TypeAuto) are not the agent's.
	if p.Type == TypeAgent || p.Type == TypeAuto && mayBeAgentLine(line) {
		if e, ok := ParseAgentLine(line); ok {
			var ok bool
			*ev, ok = ClassifyAgent(&e)
			ev.Time = e.Time
			return e.Time, classified(ok)
		} else if p.Type == TypeAgent {
			return time.Time{}, LineUnparsed
		}
	}
	formats := p.Formats
	if formats == nil {
		formats = DefaultFormats
	}
	for i := range formats {
		k := (p.last + i) % len(formats)
		// Most lines of a busy access log are decided by their time and status alone.
		if ok, ruledOut := formats[k].scanLine(line, p.Location, &p.entry, &p.accessTimes); ok {
			p.last = k
			if ruledOut {
				return p.entry.Time, LineUnclassified
			}
			return p.entry.Time, classified(classifyAccess(&p.entry, ev, &p.verifyDetail))
		}
	}
	return time.Time{}, LineUnparsed
}

func classified(ok bool) LineStatus {
	if !ok {
		return LineUnclassified
	}
	return LineClassified
}

// Clip copies s, cut at MaxLineBytes on a rune boundary and made valid UTF-8.
func Clip(s string) string {
	if len(s) > MaxLineBytes {
		cut := MaxLineBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + " …"
	}
	s = validUTF8(s)
	return string([]byte(s)) // a copy: s may alias a reused read buffer
}

// ownConn reports whether the error line e (rest is its text after the header) belongs to
// one of the probe's stream connections: it is the first line of one, or a later line of
// one whose first line this parser read.
func (p *Parser) ownConn(e *ErrorEntry, rest string) bool {
	k := connKey{e.PID, e.Conn}
	if p.own.has(k) {
		return true
	}
	client, ok := streamClient(rest)
	if !ok || !p.own.mine(client, e.Time) {
		return false
	}
	p.own.add(k)
	return true
}
