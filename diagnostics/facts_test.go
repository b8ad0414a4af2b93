package diagnostics

import (
	"reflect"
	"testing"
)

// TestFactKindsCoverFacts: every pointer field of Facts is the field of exactly one fact
// kind in the table, and Has, take and clear reach it.
func TestFactKindsCoverFacts(t *testing.T) {
	typ := reflect.TypeFor[Facts]()
	fields := 0
	for i := range typ.NumField() {
		fl := typ.Field(i)
		if fl.Type.Kind() != reflect.Pointer {
			continue
		}
		fields++
		var f Facts
		reflect.ValueOf(&f).Elem().Field(i).Set(reflect.New(fl.Type.Elem()))
		var kinds []FactKind
		for _, k := range FactOrder {
			if f.Has(k) {
				kinds = append(kinds, k)
			}
		}
		if len(kinds) != 1 {
			t.Errorf("Facts.%s is the field of kinds %v, want exactly one", fl.Name, kinds)
			continue
		}
		g := Facts{Errors: map[FactKind]string{kinds[0]: "x"}}
		if g.take(kinds[0], &f); !g.Has(kinds[0]) {
			t.Errorf("take(%s) did not copy Facts.%s", kinds[0], fl.Name)
		}
		if g.clear(kinds[0]); g.Has(kinds[0]) || g.Errors[kinds[0]] != "" {
			t.Errorf("clear(%s) left Facts.%s or its error", kinds[0], fl.Name)
		}
	}
	if fields != len(FactOrder) {
		t.Errorf("Facts has %d fact fields, FactOrder %d kinds", fields, len(FactOrder))
	}
	if (&Facts{}).Has("no-such-kind") {
		t.Error("an unknown kind is gathered")
	}
}
