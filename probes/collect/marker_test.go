package collect

import (
	"testing"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// TestOwnProbeMarker: the log scan ignores exactly the requests the probe marks as its own
// (probes and logparse import nothing of each other, so each keeps the string).
func TestOwnProbeMarker(t *testing.T) {
	if probes.NoCertQuery != logparse.OwnProbeQuery {
		t.Fatalf("probes.NoCertQuery %q != logparse.OwnProbeQuery %q", probes.NoCertQuery, logparse.OwnProbeQuery)
	}
}
