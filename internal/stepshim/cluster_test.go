package stepshim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestMain lets this test binary act as the cluster shims' helper (NewCluster runs it).
func TestMain(m *testing.M) {
	if code, ok := RunLive(os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestMergePatch holds MergePatch to the examples of RFC 7386, appendix A.
func TestMergePatch(t *testing.T) {
	for _, c := range [][3]string{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	} {
		var doc, patch, want any
		for i, v := range []*any{&doc, &patch, &want} {
			if err := json.Unmarshal([]byte(c[i]), v); err != nil {
				t.Fatal(err)
			}
		}
		if got := MergePatch(doc, patch); !reflect.DeepEqual(got, want) {
			t.Errorf("MergePatch(%s, %s) = %v, want %s", c[0], c[1], got, c[2])
		}
	}
}

// TestClusterShims: the shims record every call; a dry-run patch changes nothing, a
// patch merges into the live MeshConfig, nginx-meshctl config prints its spec, and a patch
// of a MeshConfig that is not there fails as kubectl does.
func TestClusterShims(t *testing.T) {
	live := filepath.Join(t.TempDir(), "live.json")
	if err := os.WriteFile(live, []byte(`{"kind":"MeshConfig","metadata":{"name":"nginx-mesh-config","namespace":"nginx-mesh"},`+
		`"spec":{"mtls":{"mode":"permissive","caTTL":"720h"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	sb, calls := NewCluster(t, live)
	patch := `kubectl patch meshconfig 'nginx-mesh-config' -n 'nginx-mesh' --type merge -p '{"spec":{"mtls":{"mode":"strict"}}}'`
	out := filepath.Join(t.TempDir(), "config.json")
	if err := sb.Run([]string{patch + " --dry-run=server", "nginx-meshctl config >'<out>'"}, map[string]string{"<out>": out}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(out); !strings.Contains(string(data), `"mode": "permissive"`) {
		t.Errorf("after a dry run the live settings are\n%s\nwant them unchanged", data)
	}
	if err := sb.Run([]string{patch, "helm list", "nginx-meshctl config >'<out>'"}, map[string]string{"<out>": out}); err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if data, _ := os.ReadFile(out); json.Unmarshal(data, &spec) != nil ||
		!reflect.DeepEqual(spec, map[string]any{"mtls": map[string]any{"mode": "strict", "caTTL": "720h"}}) {
		t.Errorf("after the patch nginx-meshctl config prints\n%s", data)
	}
	if err := sb.Run([]string{strings.Replace(patch, "'nginx-mesh'", "'default'", 1)}, nil); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a patch of another namespace: %v, want not found", err)
	}
	if got, want := calls(), "kubectl patch meshconfig nginx-mesh-config -n nginx-mesh --type merge -p {\"spec\":{\"mtls\":{\"mode\":\"strict\"}}} --dry-run=server\n"+
		"nginx-meshctl config\n"; !strings.HasPrefix(got, want) || !strings.Contains(got, "\nhelm list\n") {
		t.Errorf("recorded calls:\n%s\nwant them to start with\n%s", got, want)
	}
}
