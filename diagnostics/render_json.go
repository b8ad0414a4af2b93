package diagnostics

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// JSONVersion is the version of the --check -o json document, published as the JSON schema
// schema/report.v1.json. Within a version fields are only added; it changes only when a
// field is removed or changes meaning or type.
const JSONVersion = 1

// JSONReport is the documented JSON document of `--check -o json`. It is kept apart from
// the engine's types so internal changes never break scripts.
type JSONReport struct {
	Version int `json:"version"`
	// Status is "ok", "warn" or "fail".
	Status string `json:"status"`
	// CheckedAt is the instant the checks judged (RFC 3339).
	CheckedAt time.Time `json:"checked_at"`
	// Target is the endpoint and agent configuration checked, when known.
	Target       *JSONTarget   `json:"target,omitempty"`
	Findings     []JSONFinding `json:"findings"`
	Certificates []JSONCert    `json:"certificates,omitempty"`
}

// JSONTarget says what was checked.
type JSONTarget struct {
	AgentConfig string `json:"agent_config,omitempty"`
	AgentFormat string `json:"agent_format,omitempty"`
	Address     string `json:"address,omitempty"`
	ServerName  string `json:"server_name,omitempty"`
	// NginxConfig is the manager's NGINX configuration judged (--nginx-config or found).
	NginxConfig string `json:"nginx_config,omitempty"`
}

// JSONFinding is one check's result.
type JSONFinding struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	// Severity is "ok", "info", "warn", "fail" or "skip".
	Severity string         `json:"severity"`
	Title    string         `json:"title"`
	Summary  string         `json:"summary"`
	Evidence []JSONEvidence `json:"evidence"`
	Fix      []JSONStep     `json:"fix"`
	// Subject is what the finding judged: an agent link, a server block, an upstream link.
	Subject *Subject `json:"subject,omitempty"`
	// Cause is the machine-readable reason of a warning or failure.
	Cause *Cause `json:"cause,omitempty"`
}

// JSONEvidence is one observation behind a finding.
type JSONEvidence struct {
	Text     string   `json:"text"`
	Location string   `json:"location,omitempty"`
	Quote    []string `json:"quote,omitempty"`
}

// JSONStep is one fix step.
type JSONStep struct {
	Title    string   `json:"title"`
	Why      string   `json:"why,omitempty"`
	Commands []string `json:"commands"`
	File     string   `json:"file,omitempty"`
	Diff     string   `json:"diff,omitempty"`
	// Verify lists the check IDs that confirm the step.
	Verify []string `json:"verify"`
	// Host is "agent", "manager", "upstream" or "cluster" when the step runs on that machine.
	Host string `json:"host,omitempty"`
	// Changes are the files the commands write.
	Changes []string `json:"changes,omitempty"`
	// Inputs are placeholders in the commands only the user can fill.
	Inputs []Input `json:"inputs,omitempty"`
	// Manual says why the step cannot be run as shown.
	Manual string `json:"manual,omitempty"`
}

// JSONCert is one certificate's remaining validity.
type JSONCert struct {
	Role     string    `json:"role"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	DaysLeft int       `json:"days_left"`
}

// NewJSONReport converts a report to its documented JSON form.
func NewJSONReport(r *Report) JSONReport {
	out := JSONReport{Version: JSONVersion, Status: r.Status().String(), Findings: []JSONFinding{}}
	if r.Facts != nil {
		out.CheckedAt = r.Facts.Now.UTC()
		if a := r.Facts.Agent; a != nil {
			out.Target = &JSONTarget{AgentConfig: a.Path, AgentFormat: string(a.Format),
				Address: a.Address(), ServerName: a.ServerName.Value}
		}
		if n := r.Facts.Nginx; n.Manager() {
			if out.Target == nil {
				out.Target = &JSONTarget{}
			}
			out.Target.NginxConfig = n.Main
		}
		for _, c := range CertLives(r.Facts) {
			out.Certificates = append(out.Certificates, JSONCert{Role: c.Role, Subject: c.Subject,
				NotAfter: c.NotAfter.UTC(), DaysLeft: c.DaysLeft})
		}
	}
	for _, f := range r.Findings {
		out.Findings = append(out.Findings, jsonFinding(f))
	}
	return out
}

// jsonFinding is one finding in its documented JSON form.
func jsonFinding(f Finding) JSONFinding {
	jf := JSONFinding{ID: f.ID, Category: string(f.Category), Severity: f.Severity.String(),
		Title: f.Title, Summary: f.Summary, Evidence: make([]JSONEvidence, 0, len(f.Evidence)), Fix: []JSONStep{}}
	if !f.Subject.IsZero() {
		jf.Subject = &f.Subject
	}
	if !f.Cause.IsZero() {
		jf.Cause = &f.Cause
	}
	for _, e := range f.Evidence {
		jf.Evidence = append(jf.Evidence, JSONEvidence(e))
	}
	for _, s := range f.Fix {
		js := JSONStep{Title: s.Title, Why: s.Why, Commands: s.Commands, File: s.File, Diff: s.Diff, Verify: s.Verify,
			Host: string(s.Host), Changes: s.Changes, Inputs: s.Inputs, Manual: s.Manual}
		if js.Commands == nil {
			js.Commands = []string{}
		}
		if js.Verify == nil {
			js.Verify = []string{}
		}
		jf.Fix = append(jf.Fix, js)
	}
	return jf
}

// WriteJSON writes the report as one indented JSON document, the bytes a json.Encoder
// with two-space indent writes for NewJSONReport(r). It writes them itself, without
// reflection: encoding/json's first use of each type (its field cache, its encoders)
// cost a --check ~30 page faults and half a millisecond, a tenth of its time after the
// probe. The findings are written one at a time: a manager with 10,000 server blocks has
// tens of megabytes of evidence, which a whole-document encode held three times over.
func WriteJSON(w io.Writer, r *Report) error {
	doc := NewJSONReport(&Report{Facts: r.Facts}) // the frame, without findings
	doc.Status = r.Status().String()
	bw := bufio.NewWriter(w)
	j := &jsonWriter{}
	j.open('{')
	j.int("version", int64(doc.Version))
	j.str("status", doc.Status)
	j.key("checked_at")
	if err := j.time(doc.CheckedAt); err != nil {
		return err
	}
	if t := doc.Target; t != nil {
		j.member("target", '{')
		j.strOmitEmpty("agent_config", t.AgentConfig)
		j.strOmitEmpty("agent_format", t.AgentFormat)
		j.strOmitEmpty("address", t.Address)
		j.strOmitEmpty("server_name", t.ServerName)
		j.strOmitEmpty("nginx_config", t.NginxConfig)
		j.close('}')
	}
	j.member("findings", '[')
	for _, f := range r.Findings {
		j.next()
		j.finding(f)
		if _, err := bw.Write(j.b); err != nil {
			return err
		}
		j.b = j.b[:0]
	}
	j.close(']')
	if len(doc.Certificates) > 0 {
		j.member("certificates", '[')
		for _, c := range doc.Certificates {
			j.element()
			j.str("role", c.Role)
			j.str("subject", c.Subject)
			j.key("not_after")
			if err := j.time(c.NotAfter); err != nil {
				return err
			}
			j.int("days_left", int64(c.DaysLeft))
			j.close('}')
		}
		j.close(']')
	}
	j.close('}')
	j.b = append(j.b, '\n')
	bw.Write(j.b)
	return bw.Flush()
}

// jsonWriter appends JSON indented as json.MarshalIndent(v, "", "  ") indents it: each
// member on its own line, two spaces a level, empty objects and arrays as {} and [].
type jsonWriter struct {
	b     []byte
	depth int
	empty bool // nothing written yet in the innermost object or array
}

func (j *jsonWriter) open(c byte) {
	j.b = append(j.b, c)
	j.depth++
	j.empty = true
}

func (j *jsonWriter) close(c byte) {
	j.depth--
	if !j.empty {
		j.newline()
	}
	j.b = append(j.b, c)
	j.empty = false
}

// next starts a member of the innermost object or array.
func (j *jsonWriter) next() {
	if !j.empty {
		j.b = append(j.b, ',')
	}
	j.newline()
	j.empty = false
}

func (j *jsonWriter) newline() {
	j.b = append(j.b, '\n')
	for range j.depth {
		j.b = append(j.b, ' ', ' ')
	}
}

// key starts an object member; k is one of the field names here, which need no escaping.
func (j *jsonWriter) key(k string) {
	j.next()
	j.b = append(j.b, '"')
	j.b = append(j.b, k...)
	j.b = append(j.b, '"', ':', ' ')
}

// member starts an object member whose value is an object ('{') or an array ('[').
func (j *jsonWriter) member(k string, c byte) {
	j.key(k)
	j.open(c)
}

// element starts an object in the innermost array.
func (j *jsonWriter) element() {
	j.next()
	j.open('{')
}

func (j *jsonWriter) int(k string, v int64) {
	j.key(k)
	j.b = strconv.AppendInt(j.b, v, 10)
}

func (j *jsonWriter) str(k, v string) {
	j.key(k)
	j.b = appendJSONString(j.b, v)
}

func (j *jsonWriter) strOmitEmpty(k, v string) {
	if v != "" {
		j.str(k, v)
	}
}

// strs writes a []string member, [] when empty.
func (j *jsonWriter) strs(k string, v []string) {
	j.member(k, '[')
	for _, s := range v {
		j.next()
		j.b = appendJSONString(j.b, s)
	}
	j.close(']')
}

// time writes t with its own MarshalJSON (RFC 3339 with nanoseconds; an error for a
// year outside 0–9999), worded as encoding/json wraps that error.
func (j *jsonWriter) time(t time.Time) error {
	b, err := t.MarshalJSON()
	if err != nil {
		return fmt.Errorf("json: error calling MarshalJSON for type time.Time: %w", err)
	}
	j.b = append(j.b, b...)
	return nil
}

// finding writes f as its JSONFinding (jsonFinding) encodes, without that copy.
func (j *jsonWriter) finding(f Finding) {
	j.open('{')
	j.str("id", f.ID)
	j.str("category", string(f.Category))
	j.str("severity", f.Severity.String())
	j.str("title", f.Title)
	j.str("summary", f.Summary)
	j.member("evidence", '[')
	for _, e := range f.Evidence {
		j.element()
		j.str("text", e.Text)
		j.strOmitEmpty("location", e.Location)
		if len(e.Quote) > 0 {
			j.strs("quote", e.Quote)
		}
		j.close('}')
	}
	j.close(']')
	j.member("fix", '[')
	for _, s := range f.Fix {
		j.next()
		j.step(s)
	}
	j.close(']')
	if s := f.Subject; !s.IsZero() {
		j.member("subject", '{')
		j.str("kind", string(s.Kind))
		j.strOmitEmpty("name", s.Name)
		j.close('}')
	}
	if c := f.Cause; !c.IsZero() {
		j.member("cause", '{')
		j.strOmitEmpty("code", c.Code)
		if c.OpenSSL != 0 {
			j.int("openssl_verify_error", int64(c.OpenSSL))
		}
		if c.Alert != 0 {
			j.int("tls_alert", int64(c.Alert))
		}
		j.close('}')
	}
	j.close('}')
}

// step writes s as its JSONStep encodes: commands and verify are [] when empty.
func (j *jsonWriter) step(s Step) {
	j.open('{')
	j.str("title", s.Title)
	j.strOmitEmpty("why", s.Why)
	j.strs("commands", s.Commands)
	j.strOmitEmpty("file", s.File)
	j.strOmitEmpty("diff", s.Diff)
	j.strs("verify", s.Verify)
	j.strOmitEmpty("host", string(s.Host))
	if len(s.Changes) > 0 {
		j.strs("changes", s.Changes)
	}
	if len(s.Inputs) > 0 {
		j.member("inputs", '[')
		for _, in := range s.Inputs {
			j.element()
			j.str("name", in.Name)
			j.str("prompt", in.Prompt)
			j.close('}')
		}
		j.close(']')
	}
	j.strOmitEmpty("manual", s.Manual)
	j.close('}')
}

// appendJSONString appends s quoted as encoding/json quotes a string (its appendString
// with HTML escaping, the default): \" and \\, the short escapes \b \f \n \r \t, other
// control bytes and < > & as \u00XX, bytes that are not UTF-8 as \ufffd, and U+2028 and
// U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
