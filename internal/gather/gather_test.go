package gather

import (
	"context"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// TestEveryFactKindGathered: the Collector gathers every fact kind the engine knows but the
// mesh's, which `mtls-doctor mesh` gathers itself; an unknown kind is an error, not a panic.
func TestEveryFactKindGathered(t *testing.T) {
	for _, k := range diagnostics.FactOrder {
		if _, ok := gatherers[k]; !ok && k != diagnostics.FactMesh {
			t.Errorf("no gatherer for fact kind %q", k)
		}
	}
	if err := New(Options{}).Gather(context.Background(), "no-such-kind", &diagnostics.Facts{}); err == nil {
		t.Error("an unknown fact kind was gathered")
	}
}
