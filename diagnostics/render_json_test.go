package diagnostics

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, renderReport(t)); err != nil {
		t.Fatal(err)
	}
	var doc JSONReport
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("output is not one JSON document: %v", err)
	}
	if doc.Version != 1 || doc.Status != "fail" || len(doc.Findings) != 5 {
		t.Fatalf("version=%d status=%q findings=%d", doc.Version, doc.Status, len(doc.Findings))
	}
	golden.RequireEqual(t, b.Bytes())
}

// WriteJSON writes the JSON itself; the bytes must be what one json.Encoder with two-space
// indent writes for the whole document — with findings, without, with a target whose
// text holds the findings key itself, and with every optional field set.
func TestWriteJSONSameAsEncoder(t *testing.T) {
	full := renderReport(t)
	tricky := renderReport(t)
	tricky.Facts.Agent.Path = "/etc/nginx-agent/\n  \"findings\": [].conf"
	for name, r := range map[string]*Report{"full": full, "none": {}, "tricky target": tricky,
		"every field": jsonFieldsReport(t, "<a & b> \"q\" \\ \x00\x1f\x7f\b\f\r\t\n \xff\xfe \u2028\u2029 → é", 7)} {
		assertJSONSameAsEncoder(t, name, r)
	}
}

// FuzzWriteJSON: whatever the strings and numbers, WriteJSON writes json.Encoder's bytes.
func FuzzWriteJSON(f *testing.F) {
	f.Add("plain", 0)
	f.Add("<script>&\u2028\"\\\x00\xc3", -3)
	f.Add("\xed\xa0\x80 \U0010ffff \ufffd", 116)
	f.Fuzz(func(t *testing.T, s string, n int) {
		assertJSONSameAsEncoder(t, "fuzz", jsonFieldsReport(t, s, n))
	})
}

// jsonFieldsReport is a report that sets every field of the JSON document: s in every
// string, n in every number.
func jsonFieldsReport(t testing.TB, s string, n int) *Report {
	r := renderReport(t)
	r.Facts.Agent.Path, r.Facts.Agent.ServerName.Value, r.Facts.Agent.Host.Value = s, s, s
	r.Facts.Nginx = &probes.NginxFacts{Main: s, NIM1: &probes.NIMManagerConfig{Path: s + "x"}}
	r.Findings = append(r.Findings,
		Finding{ID: s, Category: Category(s), Severity: SeverityWarn, Title: s, Summary: s,
			Evidence: []Evidence{{Text: s, Location: s, Quote: []string{s, ""}}, {Text: ""}},
			Fix: []Step{{Title: s, Why: s, Commands: []string{s}, File: s, Diff: s, Verify: []string{s}, Host: Host(s),
				Changes: []string{s}, Inputs: []Input{{Name: s, Prompt: s}}, Manual: s}, {Title: ""}},
			Subject: Subject{Kind: SubjectKind(s), Name: s}, Cause: Cause{Code: s, OpenSSL: n, Alert: n}},
		Finding{ID: "only-numbers", Cause: Cause{OpenSSL: n}, Subject: Subject{Kind: SubjectAgentLink}})
	return r
}

// TestJSONFieldsReportSetsEveryField keeps WriteJSON, which writes the document by hand,
// tied to the JSON types: every field they declare must appear in json.Encoder's output
// of jsonFieldsReport, so that a field added to a type and not to WriteJSON fails
// TestWriteJSONSameAsEncoder instead of being left out of the report unnoticed.
func TestJSONFieldsReportSetsEveryField(t *testing.T) {
	b, err := json.Marshal(NewJSONReport(jsonFieldsReport(t, "s", 7)))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	var walkDoc func(prefix string, v any)
	walkDoc = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				present[prefix+k] = true
				walkDoc(prefix+k+".", e)
			}
		case []any:
			for _, e := range v {
				walkDoc(prefix, e)
			}
		}
	}
	walkDoc("", doc)
	var declared []string
	var walkType func(prefix string, ty reflect.Type)
	walkType = func(prefix string, ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || ty == reflect.TypeFor[time.Time]() {
			return
		}
		for f := range ty.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			declared = append(declared, prefix+name)
			walkType(prefix+name+".", f.Type)
		}
	}
	walkType("", reflect.TypeFor[JSONReport]())
	for _, path := range declared {
		if !present[path] {
			t.Errorf("jsonFieldsReport leaves %s out of the document: set it, and write it in WriteJSON", path)
		}
	}
	if len(declared) < 30 || !slices.Contains(declared, "findings.fix.inputs.prompt") {
		t.Fatalf("the walk over the JSON types found only %v", declared)
	}
}

func assertJSONSameAsEncoder(t *testing.T, name string, r *Report) {
	t.Helper()
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetIndent("", "  ")
	wantErr := enc.Encode(NewJSONReport(r))
	var got bytes.Buffer
	gotErr := WriteJSON(&got, r)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%s: WriteJSON error %v, json.Encoder's %v", name, gotErr, wantErr)
	}
	if wantErr == nil && got.String() != want.String() {
		t.Errorf("%s: WriteJSON differs from json.Encoder:\n got %s\nwant %s", name, got.String(), want.String())
	}
}

// BenchmarkWriteJSON is the end of every `--check -o json`: allocated bytes matter as much
// as time (each fresh 4 KiB page of heap is a page fault).
func BenchmarkWriteJSON(b *testing.B) {
	r := renderReport(b)
	for len(r.Findings) < 60 { // as many as a --check reports
		r.Findings = append(r.Findings, r.Findings...)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteJSON(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
