package diagnostics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
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
// with two-space indent writes. The findings are encoded one at a time: a manager with
// 10,000 server blocks has tens of megabytes of evidence, which a whole-document encode
// held three times over (the value, its encoding, its indented copy).
func WriteJSON(w io.Writer, r *Report) error {
	doc := NewJSONReport(&Report{Facts: r.Facts}) // the frame, without findings
	doc.Status = r.Status().String()
	frame, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	// The one unescaped `"findings": []` is the key: a quote inside a string is \".
	const key = "\n  \"findings\": []"
	at := bytes.Index(frame, []byte(key))
	if at < 0 {
		return fmt.Errorf("json: no findings key in %.40q", frame)
	}
	bw := bufio.NewWriter(w)
	bw.Write(frame[:at+len(key)-1]) // up to and with "["
	// One encoder and one buffer for every finding: json.MarshalIndent would allocate two
	// fresh copies of each (its Marshal's and the indented one).
	var one bytes.Buffer
	enc := json.NewEncoder(&one)
	enc.SetIndent("    ", "  ")
	for i, f := range r.Findings {
		if i > 0 {
			bw.WriteByte(',')
		}
		one.Reset()
		if err := enc.Encode(jsonFinding(f)); err != nil {
			return err
		}
		bw.WriteString("\n    ")
		bw.Write(bytes.TrimSuffix(one.Bytes(), []byte("\n"))) // Encode ends each value with one
	}
	if len(r.Findings) > 0 {
		bw.WriteString("\n  ")
	}
	bw.Write(frame[at+len(key)-1:])
	bw.WriteByte('\n')
	return bw.Flush()
}
