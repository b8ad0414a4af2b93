package diagnostics

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// TestResultCauseAndSubjectReachFixAndJSON: the Result Evaluate returns is what Fix gets,
// and its cause and subject are carried into the finding and the JSON document.
func TestResultCauseAndSubjectReachFixAndJSON(t *testing.T) {
	link := Subject{Kind: SubjectUpstreamLink, Name: "front.conf:3 → 127.0.0.1:8443"}
	var got Result
	ch := Check{ID: "t-cause", Category: CategoryNetwork, Title: "t",
		Evaluate: func(*Facts) Result {
			r := Fail("refused").Because("unknown-ca").About(link)
			r.Cause.OpenSSL, r.Cause.Alert = 20, 48
			return r
		},
		Fix: func(_ *Facts, r Result) []Step { got = r; return []Step{{Title: "fix " + r.Cause.Code}} },
	}
	fd := ch.assembled().run(&Facts{})
	if got.Cause.Code != "unknown-ca" || fd.Cause != (Cause{Code: "unknown-ca", OpenSSL: 20, Alert: 48}) || fd.Subject != link {
		t.Fatalf("Fix got %+v; finding cause %+v subject %+v", got.Cause, fd.Cause, fd.Subject)
	}
	if len(fd.Fix) != 1 || fd.Fix[0].Title != "fix unknown-ca" {
		t.Fatalf("fix = %+v", fd.Fix)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &Report{Facts: &Facts{}, Findings: []Finding{fd, {ID: "t-ok", Category: CategoryNetwork, Severity: SeverityOK, Title: "t"}}}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Findings []map[string]json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if c := compact(t, doc.Findings[0]["cause"]); c != `{"code":"unknown-ca","openssl_verify_error":20,"tls_alert":48}` {
		t.Errorf("cause = %s", c)
	}
	if _, ok := doc.Findings[1]["cause"]; ok {
		t.Errorf("an OK finding with no cause carries one: %s", buf.String())
	}
	if s := compact(t, doc.Findings[0]["subject"]); s != `{"kind":"upstream-link","name":"front.conf:3 → 127.0.0.1:8443"}` {
		t.Errorf("subject = %s", s)
	}
}

// TestDefaultSubjectIsTheAgentLink: a check that names no subject judges the agent's link
// as the agent dials it.
func TestDefaultSubjectIsTheAgentLink(t *testing.T) {
	ch := Check{ID: "t-default", Category: CategoryAgentCert, Title: "t", Evaluate: func(*Facts) Result { return Warn("w") }}
	agent := &probes.AgentConfig{}
	agent.Host.Value, agent.Port.Value = "nim.test.local", "443"
	fd := ch.run(&Facts{Agent: agent})
	if want := (Subject{Kind: SubjectAgentLink, Name: "nginx-agent → nim.test.local:443"}); fd.Subject != want {
		t.Fatalf("subject = %+v, want %+v", fd.Subject, want)
	}
}

// TestBothSidesFixFollowsTheSidesThatFailed: a two-sided check's Fix gives the playbook of
// each half that warned or failed, from the Result, without evaluating again.
func TestBothSidesFixFollowsTheSidesThatFailed(t *testing.T) {
	evals := 0
	ch := Check{ID: "t-sides", Category: CategoryClientAuth, Title: "t",
		Evaluate: func(*Facts) Result { evals++; return OK("agent fine") },
		Fix:      func(*Facts, Result) []Step { return []Step{{Title: "agent step"}} },
		Manager: &ManagerSide{
			Evaluate: func(*Facts) Result { evals++; return Fail("manager refuses") },
			Fix:      func(*Facts, Result) []Step { return []Step{{Title: "manager step"}} },
		},
	}
	// nginx-manager.conf alone makes this host the manager (NginxFacts.Manager).
	f := &Facts{Agent: &probes.AgentConfig{}, Nginx: &probes.NginxFacts{NIM1: &probes.NIMManagerConfig{Path: "/etc/nginx-manager/nginx-manager.conf"}}}
	fd := ch.assembled().run(f)
	if fd.Severity != SeverityFail || len(fd.Fix) != 1 || fd.Fix[0].Title != "manager step" || evals != 2 {
		t.Fatalf("finding %+v after %d evaluations", fd, evals)
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
