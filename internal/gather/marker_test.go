package gather

import (
	"testing"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// TestOwnProbeMarker: the log scan ignores exactly the requests the probe marks as its own
// (probes and logparse import nothing of each other, so each keeps the strings).
func TestOwnProbeMarker(t *testing.T) {
	if probes.NoCertQuery != logparse.OwnProbeQuery {
		t.Fatalf("probes.NoCertQuery %q != logparse.OwnProbeQuery %q", probes.NoCertQuery, logparse.OwnProbeQuery)
	}
	if probes.UserAgent != logparse.OwnProbeUserAgent {
		t.Fatalf("probes.UserAgent %q != logparse.OwnProbeUserAgent %q", probes.UserAgent, logparse.OwnProbeUserAgent)
	}
	for _, mark := range []string{probes.NoCertQuery, probes.UserAgent} {
		if !logparse.OwnProbe(`127.0.0.1 "` + mark + `"`) {
			t.Errorf("logparse.OwnProbe does not recognise %q", mark)
		}
	}
}

// TestOwnProbePorts: the probe dials from the ports the log scan sets apart.
func TestOwnProbePorts(t *testing.T) {
	if probes.ProbePorts != logparse.OwnProbePorts {
		t.Fatalf("probes.ProbePorts %v != logparse.OwnProbePorts %v", probes.ProbePorts, logparse.OwnProbePorts)
	}
}
