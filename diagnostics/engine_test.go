package diagnostics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// recordingGatherer fills facts with empty values and records what it was asked for.
type recordingGatherer struct {
	mu    sync.Mutex // kinds whose dependencies are met are gathered concurrently
	asked []FactKind
	fail  map[FactKind]error
}

func (g *recordingGatherer) Gather(_ context.Context, k FactKind, f *Facts) error {
	g.mu.Lock()
	g.asked = append(g.asked, k)
	g.mu.Unlock()
	if err := g.fail[k]; err != nil {
		return err
	}
	switch k {
	case FactAgentConfig:
		f.Agent = &probes.AgentConfig{Path: "/etc/nginx-agent/nginx-agent.conf"}
	case FactAgentFiles:
		f.Files = &probes.AgentFiles{}
	case FactEndpoint:
		f.Endpoint = &probes.EndpointReport{Address: "127.0.0.1:443"}
	}
	return nil
}

func testCatalog() Catalog {
	return Catalog{
		{ID: "config-ok", Category: CategoryAgentConfig, Title: "config", Needs: []FactKind{FactAgentConfig},
			Evaluate: func(f *Facts) Result { return OK("config at %s", f.Agent.Path) }},
		{ID: "files-warn", Category: CategoryAgentFiles, Title: "files", Needs: []FactKind{FactAgentFiles},
			Evaluate: func(*Facts) Result { return Warn("key is world-readable") },
			Fix:      func(*Facts, Result) []Step { return []Step{{Title: "chmod 600", Verify: []string{"files-warn"}}} }},
		{ID: "endpoint-fail", Category: CategoryNetwork, Title: "endpoint", Needs: []FactKind{FactEndpoint},
			Evaluate: func(f *Facts) Result { return Fail("refused at %s", f.Endpoint.Address) }},
		{ID: "clock", Category: CategoryNetwork, Title: "clock",
			Evaluate: func(f *Facts) Result { return Info("now is %s", f.Now.Format(time.RFC3339)) }},
	}
}

func testEngine(g Gatherer) *Engine {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	return &Engine{Catalog: testCatalog(), Gatherer: g, Now: func() time.Time { return now }}
}

func TestEngineStreamsInGatherOrder(t *testing.T) {
	g := &recordingGatherer{}
	var events []string
	r := testEngine(g).Run(context.Background(), nil, nil, func(e Event) {
		switch e.Type {
		case EventGathering:
			events = append(events, "gather "+string(e.Fact))
		case EventFinding:
			events = append(events, e.Finding.ID+"="+e.Finding.Severity.String())
		}
	})
	// The agent's files and the probe both build on the agent configuration only, so they
	// are gathered side by side: their findings may come in either order, but each after
	// its own kind's gathering, and both kinds after the configuration's finding.
	if len(events) != 7 || events[0] != "clock=info" || events[1] != "gather agent-config" || events[2] != "config-ok=ok" {
		t.Fatalf("events %q: want the check that reads nothing, then the agent configuration's gathering and finding", events)
	}
	for _, before := range [][2]string{
		{"gather agent-files", "files-warn=warn"},
		{"gather endpoint", "endpoint-fail=fail"},
	} {
		i, j := slices.Index(events, before[0]), slices.Index(events, before[1])
		if i < 0 || j < 0 || i > j {
			t.Fatalf("events %q: want %q before %q", events, before[0], before[1])
		}
	}
	if r.Status() != SeverityFail || ExitCode(r) != 2 {
		t.Fatalf("status %s exit %d", r.Status(), ExitCode(r))
	}
	if got := r.Findings[1].Fix; len(got) != 1 || got[0].Title != "chmod 600" {
		t.Fatalf("warn finding lacks its fix: %+v", got)
	}
	if r.Findings[0].Fix != nil {
		t.Fatal("an ok finding carries fix steps")
	}
	if r.Findings[3].Summary != "now is 2026-11-22T10:00:00Z" {
		t.Fatalf("clock not injected: %q", r.Findings[3].Summary)
	}
}

func TestEngineSkipsChecksWhoseFactsFailed(t *testing.T) {
	g := &recordingGatherer{fail: map[FactKind]error{FactAgentFiles: errors.New("boom")}}
	r := testEngine(g).Run(context.Background(), nil, nil, nil)
	byID := map[string]Finding{}
	for _, f := range r.Findings {
		byID[f.ID] = f
	}
	if f := byID["files-warn"]; f.Severity != SeveritySkip || !strings.Contains(f.Summary, "boom") {
		t.Fatalf("files-warn = %s %q, want skip naming the error", f.Severity, f.Summary)
	}
	// The endpoint needs the files, so it is still attempted (its gatherer decides what it
	// can do without them) and its check runs on whatever it got.
	if f := byID["endpoint-fail"]; f.Severity != SeverityFail {
		t.Fatalf("endpoint-fail = %s", f.Severity)
	}
}

func TestEngineRerunGathersOnlyWhatTheChecksRead(t *testing.T) {
	g := &recordingGatherer{}
	e := testEngine(g)
	first := e.Run(context.Background(), nil, nil, nil)
	g.asked = nil
	again := e.Run(context.Background(), []string{"files-warn"}, first.Facts, nil)
	if want := []FactKind{FactAgentConfig, FactAgentFiles}; !slices.Equal(g.asked, want) {
		t.Fatalf("re-run gathered %v, want %v (the endpoint must not be re-probed)", g.asked, want)
	}
	if len(again.Findings) != 1 || again.Findings[0].ID != "files-warn" {
		t.Fatalf("re-run findings: %+v", again.Findings)
	}
	if again.Facts.Endpoint == nil {
		t.Fatal("the previous endpoint facts were dropped")
	}
}

func TestEngineContainsPanickingCheck(t *testing.T) {
	e := testEngine(&recordingGatherer{})
	e.Catalog = append(e.Catalog, Check{ID: "boom", Category: CategoryNetwork, Title: "boom",
		Evaluate: func(f *Facts) Result { panic(fmt.Sprint("nil facts ", f.Endpoint.TCPError.Kind)) }})
	r := e.Run(context.Background(), nil, nil, nil)
	last := r.Findings[len(r.Findings)-1]
	if last.ID != "boom" || last.Severity != SeverityFail || !strings.Contains(last.Summary, "internal error") {
		t.Fatalf("panic not contained: %+v", last)
	}
}

func TestEngineCancelledSkipsGathering(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := &recordingGatherer{}
	r := testEngine(g).Run(ctx, nil, nil, nil)
	if len(g.asked) != 0 {
		t.Fatalf("gathered %v after cancel", g.asked)
	}
	for _, f := range r.Findings[:3] {
		if f.Severity != SeveritySkip || !strings.Contains(f.Summary, "cancelled") {
			t.Fatalf("%s = %s %q", f.ID, f.Severity, f.Summary)
		}
	}
}

// TestEngineOverlapsIndependentKinds: the endpoint probe and the NGINX configuration read
// nothing of each other, so neither waits for the other; logs wait for NGINX.
func TestEngineOverlapsIndependentKinds(t *testing.T) {
	endpointStarted, nginxStarted := make(chan struct{}), make(chan struct{})
	var overlapped, logsAfterNginx bool
	var nginxDone bool
	var mu sync.Mutex
	wait := func(ch chan struct{}) bool {
		select {
		case <-ch:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	g := GathererFunc(func(_ context.Context, k FactKind, f *Facts) error {
		switch k {
		case FactAgentConfig:
			f.Agent = &probes.AgentConfig{}
		case FactAgentFiles:
			f.Files = &probes.AgentFiles{}
		case FactEndpoint:
			close(endpointStarted)
			ok := wait(nginxStarted)
			mu.Lock()
			overlapped = ok
			mu.Unlock()
			f.Endpoint = &probes.EndpointReport{}
		case FactNginx:
			close(nginxStarted)
			wait(endpointStarted)
			f.Nginx = &probes.NginxFacts{}
			mu.Lock()
			nginxDone = true
			mu.Unlock()
		case FactLogs:
			mu.Lock()
			logsAfterNginx = nginxDone
			mu.Unlock()
		}
		return nil
	})
	cat := Catalog{{ID: "all", Category: CategoryNetwork, Title: "all",
		Needs:    []FactKind{FactEndpoint, FactNginx, FactLogs},
		Evaluate: func(f *Facts) Result { return OK("endpoint %v nginx %v", f.Endpoint != nil, f.Nginx != nil) }}}
	r := (&Engine{Catalog: cat, Gatherer: g}).Run(context.Background(), nil, nil, nil)
	if !overlapped {
		t.Error("the endpoint probe waited for the NGINX configuration (or the other way round)")
	}
	if !logsAfterNginx {
		t.Error("logs were gathered before the NGINX configuration they read")
	}
	if r.Facts.Endpoint == nil || r.Facts.Nginx == nil {
		t.Errorf("gathered facts were not adopted: endpoint %v nginx %v", r.Facts.Endpoint, r.Facts.Nginx)
	}
}

// TestEngineEventFacts: gathering events carry a copy of the facts as they stand — the
// kind being gathered absent when it starts and present once gathered — never the
// report's own facts, so an observer may keep them while the run goes on.
func TestEngineEventFacts(t *testing.T) {
	var events []Event
	r := testEngine(&recordingGatherer{}).Run(context.Background(), nil, nil, func(e Event) {
		if e.Type != EventFinding {
			events = append(events, e)
		}
	})
	if len(events) != 6 {
		t.Fatalf("%d gathering events, want 6 (3 kinds, started and done)", len(events))
	}
	for _, e := range events {
		if e.Facts == nil || e.Facts == r.Facts {
			t.Fatalf("%v %s: facts %p, report's %p", e.Type, e.Fact, e.Facts, r.Facts)
		}
		if got, want := e.Facts.Has(e.Fact), e.Type == EventGathered; got != want {
			t.Errorf("%v %s: has the kind %v, want %v", e.Type, e.Fact, got, want)
		}
	}
	if last := events[len(events)-1].Facts; last.Agent != r.Facts.Agent || last.Endpoint != r.Facts.Endpoint {
		t.Errorf("the last snapshot lacks the gathered facts")
	}
}
