package diagnostics

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
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

// WriteJSON streams the findings; the bytes must be what one json.Encoder with two-space
// indent writes for the whole document — with findings, without, and with a target whose
// text holds the findings key itself.
func TestWriteJSONSameAsEncoder(t *testing.T) {
	full := renderReport(t)
	tricky := renderReport(t)
	tricky.Facts.Agent.Path = "/etc/nginx-agent/\n  \"findings\": [].conf"
	for name, r := range map[string]*Report{"full": full, "none": {}, "tricky target": tricky} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(NewJSONReport(r)); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := WriteJSON(&got, r); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: WriteJSON differs from json.Encoder:\n got %s\nwant %s", name, got.String(), want.String())
		}
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
