package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mtls-doctor/mtls-doctor/internal/demolab"
)

// schemaPath is the published JSON schema of every JSON document mtls-doctor writes.
const schemaPath = "../../schema/report.v1.json"

var (
	schemaOnce sync.Once
	schemaErr  error
	schemaURL  string
	compiler   *jsonschema.Compiler
	// compileMu serialises compiler.Compile: the Compiler's maps are not safe for the
	// parallel subtests that validate reports.
	compileMu sync.Mutex
	schemas   sync.Map // def name → *jsonschema.Schema
)

// schemaFor compiles the published schema once and returns the definition def ("" for the
// whole document), with formats (date-time) asserted.
func schemaFor(t *testing.T, def string) *jsonschema.Schema {
	t.Helper()
	schemaOnce.Do(func() {
		f, err := os.Open(schemaPath)
		if err != nil {
			schemaErr = err
			return
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			schemaErr = err
			return
		}
		schemaURL = doc.(map[string]any)["$id"].(string)
		compiler = jsonschema.NewCompiler()
		compiler.AssertFormat()
		schemaErr = compiler.AddResource(schemaURL, doc)
	})
	if schemaErr != nil {
		t.Fatalf("schema %s: %v", schemaPath, schemaErr)
	}
	if s, ok := schemas.Load(def); ok {
		return s.(*jsonschema.Schema)
	}
	compileMu.Lock()
	defer compileMu.Unlock()
	if s, ok := schemas.Load(def); ok {
		return s.(*jsonschema.Schema)
	}
	loc := schemaURL
	if def != "" {
		loc += "#/$defs/" + def
	}
	s, err := compiler.Compile(loc)
	if err != nil {
		t.Fatalf("compile %s: %v", loc, err)
	}
	schemas.Store(def, s)
	return s
}

// validateJSON checks doc against the whole schema and against its definition def, so a
// document cannot pass by matching another branch.
func validateJSON(t *testing.T, def string, doc []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("not JSON: %v\n%.500s", err, doc)
	}
	for _, d := range []string{"", def} {
		if err := schemaFor(t, d).Validate(inst); err != nil {
			t.Errorf("does not validate against %s#/$defs/%s: %v\n%.2000s", schemaPath, d, err, doc)
		}
	}
}

// TestJSONSchemaCheck validates `demo SCENARIO -o json` for every lab scenario (each plants
// another failure, so the findings, evidence and fix steps differ) and a run that found no
// agent configuration.
func TestJSONSchemaCheck(t *testing.T) {
	for _, sc := range demolab.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runDemo(t, sc.Name, "--timeout", "2s", "-o", "json")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			validateJSON(t, "checkReport", []byte(stdout))
		})
	}
	t.Run("no-agent-config", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		missing := filepath.Join(t.TempDir(), "nginx-agent.conf")
		code := run(context.Background(), []string{"--check", "-o", "json", "--no-logs", "--agent-config", missing,
			"--nginx-config", filepath.Join(t.TempDir(), "nginx.conf")}, environ{}, strings.NewReader(""), &stdout, &stderr)
		if code == exitCannot || code == exitOK {
			t.Fatalf("exit %d, want a verdict about the missing file: %s", code, stderr.String())
		}
		validateJSON(t, "checkReport", stdout.Bytes())
	})
}

func TestJSONSchemaLogs(t *testing.T) {
	code, out, errOut := runLogs(t, "--since", "0", "-o", "json", realErrorLog)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	validateJSON(t, "logsReport", []byte(out))
}

// TestJSONSchemaRejects shows the schema can fail: documents that break the v1 contract.
func TestJSONSchemaRejects(t *testing.T) {
	code, stdout, stderr := runDemo(t, "agent-cert-expired", "--timeout", "2s", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for name, edit := range map[string]func(string) string{
		"unknown status":   func(s string) string { return strings.Replace(s, `"status": "fail"`, `"status": "broken"`, 1) },
		"version 2":        func(s string) string { return strings.Replace(s, `"version": 1`, `"version": 2`, 1) },
		"bad time":         func(s string) string { return strings.Replace(s, `"checked_at": "`, `"checked_at": "yesterday `, 1) },
		"missing findings": func(s string) string { return strings.Replace(s, `"findings":`, `"finds":`, 1) },
		"severity renamed": func(s string) string { return strings.Replace(s, `"severity": "ok"`, `"severity": "pass"`, 1) },
	} {
		doc := edit(stdout)
		if doc == stdout {
			t.Fatalf("%s: the edit did not apply", name)
		}
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		if schemaFor(t, "").Validate(inst) == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}
