package probes

import (
	"strings"
	"testing"
)

func TestParseDocumentsYAML(t *testing.T) {
	src := `base: &b
  mode: off
  level: "off"
apiVersion: v1
config:
  <<: *b
  level: info
  n: 3
  f: 1.5
  list: [a, 2]
`
	docs, err := ParseDocuments("x.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("got %d documents, want 1", len(docs))
	}
	mode := docs[0].Lookup("base", "mode").Value
	if mode.Type != ScalarBoolean || !mode.Plain || mode.Value != "off" {
		t.Errorf("plain off: got %+v, want a YAML 1.1 boolean", mode)
	}
	if q := docs[0].Lookup("base", "level").Value; q.Type != ScalarString || q.Plain {
		t.Errorf(`"off": got %+v, want a quoted string`, q)
	}
	cfg := docs[0].Get("config")
	if cfg == nil || cfg.Line != 5 || cfg.Column != 1 {
		t.Fatalf("config entry: got %+v, want line 5 column 1", cfg)
	}
	if e := docs[0].Lookup("config", "level"); e == nil || e.Value.Value != "info" || e.Line != 7 {
		t.Errorf("explicit key must win over the merged one: %+v", e)
	}
	if e := docs[0].Lookup("config", "mode"); e == nil || e.Value.Value != "off" {
		t.Errorf("merged key missing: %+v", e)
	}
	if e := docs[0].Lookup("config", "n"); e.Value.Type != ScalarInteger {
		t.Errorf("n: got %s", e.Value.Type)
	}
	if e := docs[0].Lookup("config", "f"); e.Value.Type != ScalarNumber {
		t.Errorf("f: got %s", e.Value.Type)
	}
	if e := docs[0].Lookup("config", "list"); e.Value.Kind != NodeSeq || len(e.Value.Items) != 2 {
		t.Errorf("list: got %+v", e.Value)
	}
}

func TestParseDocumentsJSON(t *testing.T) {
	src := "{\n  \"mtls\": {\"mode\": \"strict\", \"n\": 2, \"b\": true},\n  \"x\": null\n}\n"
	docs, err := ParseDocuments("c.json", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e := docs[0].Lookup("mtls", "mode")
	if e == nil || e.Value.Value != "strict" || e.Line != 2 || e.Column != 12 {
		t.Fatalf("mtls.mode: got %+v, want strict at 2:12", e)
	}
	if n := docs[0].Lookup("mtls", "n").Value; n.Type != ScalarInteger {
		t.Errorf("n: got %s", n.Type)
	}
	if n := docs[0].Lookup("mtls", "b").Value; n.Type != ScalarBoolean {
		t.Errorf("b: got %s", n.Type)
	}
	if n := docs[0].Get("x").Value; n.Kind != NodeNull || n.TypeName() != "null" {
		t.Errorf("x: got %+v", n)
	}
}

func TestParseDocumentsErrors(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'h'; i++ {
		prev := string(i - 1)
		bomb += string(i) + ": &" + string(i) + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
	}
	for name, tc := range map[string]struct {
		src, want string
		line      int
	}{
		"yaml syntax":          {"a: b\n  c: [d\n", "", 0},
		"cross-document alias": {"a: &x 1\n---\nb:\n  <<: *x\n", "", 0},
		"json syntax":          {"{\"a\": 1,\n \"b\" 2}", "invalid character", 2},
		"json eof":             {"{\"a\": [1, 2", "unexpected end", 1},
		"alias bomb":           {bomb, "aliases expand to more than", 0},
		"json deep":            {strings.Repeat("[", 200) + strings.Repeat("]", 200), "nested deeper", 1},
		"unknown alias":        {"a: *nope\n", "", 1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseDocuments("f", []byte(tc.src))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Message, tc.want) {
				t.Errorf("message %q does not contain %q", err.Message, tc.want)
			}
			if tc.line > 0 && err.Line != tc.line {
				t.Errorf("line %d, want %d (%s)", err.Line, tc.line, err.Message)
			}
		})
	}
}

func FuzzParseDocuments(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nupstreamAuthority: disk\nconfig:\n  cert_file_path: a\n",
		"a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n",
		"---\nkind: List\nitems:\n- kind: Deployment\n---\n",
		`{"mtls": {"mode": "strict"}, "items": [1, 2.5, true, null]}`,
		"[1, {\"a\": [\"b\"]}]",
		"key: |\n  literal\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := ParseDocuments("fuzz", data)
		if err != nil && docs != nil {
			t.Fatalf("documents and an error at once")
		}
		for _, d := range docs {
			walkNodes(t, d, 0)
		}
	})
}

// walkNodes checks every node is well formed and bounded.
func walkNodes(t *testing.T, n *Node, depth int) {
	if n == nil {
		t.Fatal("nil node")
	}
	if depth > 4*maxAgentConfigDepth {
		t.Fatal("tree deeper than the limits allow")
	}
	for _, e := range n.Entries {
		walkNodes(t, e.Value, depth+1)
	}
	for _, it := range n.Items {
		walkNodes(t, it, depth+1)
	}
}
