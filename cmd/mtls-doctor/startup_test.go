package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// TestNoRegexpCompiledAtInit: every start runs the package initialisers of everything
// linked, so a package-level regexp.MustCompile costs every `--check` its compile time
// whether the pattern is used or not. Patterns are compiled on first use instead
// (sync.OnceValue). Test-only packages may compile at init.
func TestNoRegexpCompiledAtInit(t *testing.T) {
	eachSourceFile(t, testOnly, func(pkg, name string, f *ast.File) {
		for _, n := range compiledAtInit(f) {
			t.Errorf("%s/%s: package variable %s is a regexp compiled at start-up: compile it on first use", pkg, name, n)
		}
	})
}

// compiledAtInit returns the package-level variables of f initialised directly with
// regexp.MustCompile or regexp.Compile.
func compiledAtInit(f *ast.File) []string {
	var out []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, v := range vs.Values {
				call, ok := v.(*ast.CallExpr)
				if !ok {
					continue
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "MustCompile" && sel.Sel.Name != "Compile") {
					continue
				}
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "regexp" && i < len(vs.Names) {
					out = append(out, vs.Names[i].Name)
				}
			}
		}
	}
	return out
}

// TestCompiledAtInit proves the detector sees a package-level pattern and ignores a lazy
// one and one compiled inside a function.
func TestCompiledAtInit(t *testing.T) {
	for src, want := range map[string]int{
		"package p\nimport \"regexp\"\nvar a, b = regexp.MustCompile(`x`), 1":                                                        1,
		"package p\nimport \"regexp\"\nvar (\n\tc = regexp.MustCompile(`x`)\n\td, _ = regexp.Compile(`y`)\n)":                        2,
		"package p\nimport (\"regexp\"; \"sync\")\nvar e = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`x`) })": 0,
		"package p\nimport \"regexp\"\nfunc f() { _ = regexp.MustCompile(`x`) }":                                                     0,
	} {
		f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := compiledAtInit(f); len(got) != want {
			t.Errorf("compiledAtInit(%q) = %v, want %d names", src, got, want)
		}
	}
}
