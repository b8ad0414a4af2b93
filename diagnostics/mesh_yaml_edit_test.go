package diagnostics

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// TestYAMLEditSet runs the sed expressions set writes on real files with GNU sed, and
// refuses the shapes a line edit would break.
func TestYAMLEditSet(t *testing.T) {
	if _, err := exec.LookPath("sed"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in string
		path     []string
		value    string
		want     string // "" when set must refuse
	}{
		{"replace keeps the rest", "# c\nmtls:\n  mode: permissive # why\n  caTTL: 720h\n", []string{"mtls", "mode"}, "strict",
			"# c\nmtls:\n  mode: strict\n  caTTL: 720h\n"},
		{"empty value", "mtls:\n  mode:\n", []string{"mtls", "mode"}, "strict", "mtls:\n  mode: strict\n"},
		{"into an existing mapping, indented as it is", "mtls:\n    caTTL: 720h\nx: 1\n", []string{"mtls", "mode"}, "strict",
			"mtls:\n    mode: strict\n    caTTL: 720h\nx: 1\n"},
		{"a new section at the end", "enableUDP: false\n", []string{"mtls", "mode"}, "strict",
			"enableUDP: false\nmtls:\n  mode: strict\n"},
		{"a null mapping", "a: 1\nmtls:\nb: 2\n", []string{"mtls", "mode"}, "strict", "a: 1\nmtls:\n  mode: strict\nb: 2\n"},
		{"sed's specials in the value", "k: v\n", []string{"k"}, `a|b&c\d`, "k: a|b&c\\d\n"},
		{"flow mapping", "mtls: {mode: permissive}\n", []string{"mtls", "mode"}, "strict", ""},
		{"flow mapping without the key", "mtls: {caTTL: 1h}\n", []string{"mtls", "mode"}, "strict", ""},
		{"JSON", `{"mtls": {"mode": "permissive"}}`, []string{"mtls", "mode"}, "strict", ""},
		{"a block scalar", "k: |\n  text\n", []string{"k"}, "v", ""},
		{"a scalar where a mapping is needed", "mtls: on\n", []string{"mtls", "mode"}, "strict", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, perr := probes.ParseDocuments("v.yaml", []byte(tc.in))
			if perr != nil {
				t.Fatal(perr)
			}
			var y yamlEdit
			ok := y.set(docs[0], tc.path, tc.value)
			if ok != (tc.want != "") {
				t.Fatalf("set = %v, want %v (exprs %q)", ok, tc.want != "", y.exprs)
			}
			if !ok {
				return
			}
			file := filepath.Join(t.TempDir(), "v.yaml")
			if err := os.WriteFile(file, []byte(tc.in), 0o600); err != nil {
				t.Fatal(err)
			}
			cmds := editFileCommands(file, &y)
			if !slices.Contains(cmds, "cp -p "+shellQuote(file)+" "+shellQuote(file+".bak")) {
				t.Errorf("no backup in %q", cmds)
			}
			for _, c := range cmds {
				if out, err := exec.Command("/bin/sh", "-c", c).CombinedOutput(); err != nil {
					t.Fatalf("%s: %v: %s", c, err, out)
				}
			}
			got, _ := os.ReadFile(file)
			if string(got) != tc.want {
				t.Errorf("after %q:\n%s\nwant:\n%s", y.exprs, got, tc.want)
			}
		})
	}
}
