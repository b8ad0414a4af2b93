package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/mtls-doctor/mtls-doctor"

// packageLayers states the import rules for every package of the module: a package may
// import (in its code and in its tests) only packages of a strictly lower layer, so
// cmd → tui → gather → diagnostics → (probes, logparse) → leaves, and nothing imports
// upward or sideways within a layer. A new package fails TestImportDirection until it is
// given a layer here.
var packageLayers = map[string]int{
	// Leaves: import nothing of ours but lower leaves.
	"internal/safetext":       0, // makes untrusted text safe for a terminal
	"internal/regularfile":    0, // reads a regular file with a size bound
	"internal/pki":            0, // certificates made at run time
	"internal/stepshim":       0, // runs fix steps verbatim in a test sandbox (shims on PATH)
	"internal/grpcstub":       0, // answers as a gRPC server: the demo lab's and the tests' backend
	"internal/opensslverdict": 1, // OpenSSL's verdict on a client chain (tests use pki)
	"internal/nginxtest":      1, // a real nginx on 127.0.0.1 for tests and benchmarks
	"internal/demolab":        3, // the demo's NGINX stand-in (reads its nginx.conf with probes/nginxconf) and its PKI
	// Hides TMUX from Lip Gloss's init; it imports only os, so it initialises first.
	"cmd/mtls-doctor/internal/tmuxquiet": 0,
	// Maps the code up front and advises huge pages for the heap; imports only os and
	// syscall, so it initialises early.
	"cmd/mtls-doctor/internal/prefault": 0,
	// Facts.
	"probes/nginxconf": 2,
	"probes":           3,
	"logparse":         3,
	"probes/mesh":      4,
	// Judgement, composition, presentation.
	"diagnostics":       5,
	"internal/gather":   6, // composes the probes into diagnostics.Facts
	"internal/playbook": 6, // runs fix steps with backups, nginx -t and rollback
	"tui":               7,
	"cmd/mtls-doctor":   8,
	"bench/labup":       8,
	"bench/upprobe":     8, // times one upstream link check for bench/upstream.sh
	"bench/floor":       8, // the least a Go client does for the same answer, for bench/check.sh
}

// charmAllowed are the packages whose code may import a Charm library: the tui, and cmd
// for the terminal's size and ANSI widths. Any test may use Charm's golden files.
var charmAllowed = map[string]bool{"tui": true, "cmd/mtls-doctor": true}

// testOnly are packages that only tests and benchmark tools may import: they import
// "testing" and must never ship in the binary.
var testOnly = map[string]bool{"internal/nginxtest": true, "internal/stepshim": true}

// exitAllowed are the packages that may call os.Exit: the program's main and the
// benchmark programs'. Everything else returns errors, so deferred clean-ups run.
var exitAllowed = map[string]bool{"cmd/mtls-doctor": true, "bench/labup": true, "bench/upprobe": true, "bench/floor": true}

type listedPackage struct {
	ImportPath   string
	Dir          string
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func listModulePackages(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", modulePath+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list output: %v", err)
		}
		p.ImportPath = strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, modulePath), "/")
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < len(packageLayers) {
		t.Fatalf("go list found %d packages, the rules name %d", len(pkgs), len(packageLayers))
	}
	return pkgs
}

// TestImportDirection enforces the architecture stated by packageLayers, charmAllowed and
// testOnly on the direct imports of every package and of its tests.
func TestImportDirection(t *testing.T) {
	for _, p := range listModulePackages(t) {
		layer, ok := packageLayers[p.ImportPath]
		if !ok {
			t.Errorf("package %s has no layer in packageLayers: state its import rule", p.ImportPath)
			continue
		}
		check := func(imports []string, inTests bool) {
			for _, imp := range imports {
				if strings.HasPrefix(imp, "charm.land/") || strings.HasPrefix(imp, "github.com/charmbracelet/") {
					if !charmAllowed[p.ImportPath] && !inTests { // tests may use x/exp/golden
						t.Errorf("%s imports %s: only the tui (and cmd) use Charm", p.ImportPath, imp)
					}
					continue
				}
				if imp != modulePath && !strings.HasPrefix(imp, modulePath+"/") {
					continue
				}
				dep := strings.TrimPrefix(strings.TrimPrefix(imp, modulePath), "/")
				if dep == p.ImportPath {
					continue // an external _test package importing its own package
				}
				depLayer, known := packageLayers[dep]
				switch {
				case !known:
					t.Errorf("%s imports %s, which has no layer", p.ImportPath, dep)
				case depLayer >= layer:
					t.Errorf("%s (layer %d) imports %s (layer %d): imports go only downward", p.ImportPath, layer, dep, depLayer)
				}
				if testOnly[dep] && !inTests && p.ImportPath != "bench/labup" {
					t.Errorf("%s imports the test harness %s outside its tests", p.ImportPath, dep)
				}
			}
		}
		check(p.Imports, false)
		check(p.TestImports, true)
		check(p.XTestImports, true)
	}
}

// TestOnlyCmdExits: a call to os.Exit outside main skips deferred clean-ups (the terminal's
// state, the demo's temporary PKI), so library packages return errors instead.
func TestOnlyCmdExits(t *testing.T) {
	eachSourceFile(t, exitAllowed, func(pkg, name string, f *ast.File) {
		if callsOSExit(f) {
			t.Errorf("%s/%s calls os.Exit: only cmd may end the process", pkg, name)
		}
	})
}

// eachSourceFile parses every non-test Go file of the module's packages, but those of the
// packages skip names, and calls fn with its package's import path, its name and its
// syntax tree.
func eachSourceFile(t *testing.T, skip map[string]bool, fn func(pkg, name string, f *ast.File)) {
	t.Helper()
	for _, p := range listModulePackages(t) {
		if skip[p.ImportPath] {
			continue
		}
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			fn(p.ImportPath, name, f)
		}
	}
}

// callsOSExit reports whether f refers to os.Exit under whatever name it imports "os".
func callsOSExit(f *ast.File) bool {
	osName := ""
	for _, imp := range f.Imports {
		if path, _ := strconv.Unquote(imp.Path.Value); path == "os" {
			osName = "os"
			if imp.Name != nil {
				osName = imp.Name.Name
			}
		}
	}
	if osName == "" {
		return false
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Exit" {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == osName {
				found = true
			}
		}
		return !found
	})
	return found
}

// TestCallsOSExit proves the detector sees a renamed import and ignores a look-alike.
func TestCallsOSExit(t *testing.T) {
	cases := map[string]bool{
		"package p\nimport \"os\"\nfunc f() { os.Exit(1) }":                                true,
		"package p\nimport sys \"os\"\nfunc f() { sys.Exit(2) }":                           true,
		"package p\nimport \"os\"\nfunc f() { _ = os.Args }":                               false,
		"package p\ntype t struct{}\nfunc (t) Exit() {}\nvar os t\nfunc f() { os.Exit() }": false,
	}
	for src, want := range cases {
		f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := callsOSExit(f); got != want {
			t.Errorf("callsOSExit(%q) = %v, want %v", src, got, want)
		}
	}
}

// TestReadmeLayoutNamesEveryPackage: the README's Layout table names every package of the
// module (by its path, a parent directory's row such as `bench/`, or, for a package under
// cmd, its path below cmd/mtls-doctor), so the table keeps matching the tree.
func TestReadmeLayoutNamesEveryPackage(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "\n## Layout\n")
	if start < 0 {
		t.Fatal("README.md has no Layout section")
	}
	layout := text[start+1:]
	if end := strings.Index(layout[3:], "\n## "); end >= 0 {
		layout = layout[:end+3]
	}
	for _, p := range listModulePackages(t) {
		named := false
		for dir := p.ImportPath; dir != "." && dir != "" && !named; dir = filepath.Dir(dir) {
			named = strings.Contains(layout, "`"+dir+"`") || strings.Contains(layout, "`"+dir+"/`") ||
				strings.Contains(layout, "`"+strings.TrimPrefix(dir, "cmd/mtls-doctor/")+"`")
		}
		if !named {
			t.Errorf("README's Layout table does not name package %s", p.ImportPath)
		}
	}
}
