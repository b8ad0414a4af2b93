package diagnostics

import "testing"

// Every check's criterion is one sentence built from its title; a title written as a
// sentence loses its capital, an acronym keeps it.
func TestCriterion(t *testing.T) {
	for title, want := range map[string]string{
		"agent certificate has not expired": "Passes when agent certificate has not expired.",
		"No workload turns mTLS off":        "Passes when no workload turns mTLS off.",
		"TLS handshake completes":           "Passes when TLS handshake completes.",
		"NGINX accepts the chain":           "Passes when NGINX accepts the chain.",
	} {
		if got := (Check{Title: title}).Criterion(); got != want {
			t.Errorf("Criterion(%q) = %q, want %q", title, got, want)
		}
	}
	for _, ch := range append(DefaultCatalog(), MeshCatalog()...) {
		if c := ch.Criterion(); ch.Title == "" || c[len(c)-2] == '.' {
			t.Errorf("%s: title %q makes the criterion %q", ch.ID, ch.Title, c)
		}
	}
}
