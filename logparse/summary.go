package logparse

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

type aggKey struct {
	kind     Kind
	source   Source
	code     int
	upstream string
}

type example struct {
	t    time.Time
	line string
}

type group struct {
	Summary
	detailAt time.Time
	clients  map[string]*clientCount
	// lastClient spares the map lookup for a client seen twice in a row.
	lastClient *clientCount
	files      map[string]bool
	// lastFile spares the map lookup for the file of the group's previous event.
	lastFile string
	examples []example // newest first, at most maxExamples
}

// aggregator groups events. It keeps a bounded amount per group (clients capped at
// maxClients, three example lines), so its size does not grow with the log.
type aggregator struct {
	groups map[aggKey]*group
	// recent are the first groups made, searched before the map: a log holds a few
	// kinds, and comparing three fields is cheaper than hashing them.
	recent []recentGroup
}

type recentGroup struct {
	k aggKey
	g *group
}

// maxRecent bounds the linear search.
const maxRecent = 16

func newAggregator() *aggregator { return &aggregator{groups: map[aggKey]*group{}} }

// Aggregate summarises events the way Scan does; Follow's consumers and tests use it.
func Aggregate(events []Event) []Summary {
	a := newAggregator()
	for i := range events {
		a.add(&events[i], "", []byte(events[i].Line))
	}
	return a.summaries()
}

// add counts ev. line is the raw line (it may alias a reused buffer and is copied only
// when kept as an example); ev's strings may alias it too and are cloned when stored.
func (a *aggregator) add(ev *Event, file string, line []byte) {
	g := a.group(ev)
	g.Count++
	if g.FirstSeen.IsZero() || ev.Time.Before(g.FirstSeen) {
		g.FirstSeen = ev.Time
	}
	if ev.Time.After(g.LastSeen) {
		g.LastSeen = ev.Time
	}
	if g.Detail == "" || ev.Time.After(g.detailAt) {
		if ev.Detail != g.Detail {
			g.Detail = strings.Clone(ev.Detail)
		}
		g.detailAt = ev.Time
	}
	if ev.Client != "" {
		g.countClient(ev.Client, 1)
	}
	if file != "" && file != g.lastFile {
		g.files[file], g.lastFile = true, file
	}
	g.offer(ev.Time, line)
}

// clientCount is one client's tally; name is its own copy of the address.
type clientCount struct {
	name string
	n    int
}

// group finds or makes the group of ev.
func (a *aggregator) group(ev *Event) *group {
	for _, r := range a.recent {
		if r.k.code == ev.X509Code && r.k.source == ev.Source && r.k.kind == ev.Kind && r.k.upstream == ev.Upstream {
			return r.g
		}
	}
	k := aggKey{ev.Kind, ev.Source, ev.X509Code, ev.Upstream}
	g := a.groups[k]
	if g == nil {
		k.upstream = strings.Clone(ev.Upstream) // ev's strings may alias a reused buffer
		g = &group{
			Summary: Summary{Kind: ev.Kind, Source: ev.Source, X509Code: ev.X509Code, X509Text: strings.Clone(ev.X509Text),
				Upstream: k.upstream},
			clients: map[string]*clientCount{}, files: map[string]bool{},
		}
		a.groups[k] = g
		if len(a.recent) < maxRecent {
			a.recent = append(a.recent, recentGroup{k, g})
		}
	}
	return g
}

// countClient adds n events of client c (which may alias a reused buffer: only a copy
// is kept).
func (g *group) countClient(c string, n int) {
	if g.lastClient != nil && c == g.lastClient.name {
		g.lastClient.n += n
		return
	}
	p := g.clients[c]
	if p == nil {
		if len(g.clients) >= maxClients {
			return
		}
		p = &clientCount{name: strings.Clone(c)}
		g.clients[p.name] = p
	}
	p.n += n
	g.lastClient = p
}

// offer keeps line if it is among the newest maxExamples.
func (g *group) offer(t time.Time, line []byte) {
	if len(g.examples) == maxExamples && !t.After(g.examples[maxExamples-1].t) {
		return
	}
	ex := example{t, Clip(string(line))}
	i, _ := slices.BinarySearchFunc(g.examples, t, func(e example, t time.Time) int { return t.Compare(e.t) })
	g.examples = slices.Insert(g.examples, i, ex)
	if len(g.examples) > maxExamples {
		g.examples = g.examples[:maxExamples]
	}
}

// merge adds b's groups into a.
func (a *aggregator) merge(b *aggregator) {
	for k, gb := range b.groups {
		ga := a.groups[k]
		if ga == nil {
			a.groups[k] = gb
			continue
		}
		ga.Count += gb.Count
		if gb.FirstSeen.Before(ga.FirstSeen) {
			ga.FirstSeen = gb.FirstSeen
		}
		if gb.LastSeen.After(ga.LastSeen) {
			ga.LastSeen = gb.LastSeen
		}
		if gb.detailAt.After(ga.detailAt) {
			ga.Detail, ga.detailAt = gb.Detail, gb.detailAt
		}
		for c, n := range gb.clients {
			ga.countClient(c, n.n)
		}
		for f := range gb.files {
			ga.files[f] = true
		}
		for _, ex := range gb.examples {
			ga.offer(ex.t, []byte(ex.line))
		}
	}
}

// summaries returns the groups in Kinds order, then by source and code.
func (a *aggregator) summaries() []Summary {
	rank := map[Kind]int{}
	for i, k := range Kinds {
		rank[k] = i
	}
	out := make([]Summary, 0, len(a.groups))
	for _, g := range a.groups {
		s := g.Summary
		for c, n := range g.clients {
			s.Clients = append(s.Clients, ClientCount{c, n.n})
		}
		slices.SortFunc(s.Clients, func(x, y ClientCount) int {
			return cmp.Or(cmp.Compare(y.Count, x.Count), strings.Compare(x.Client, y.Client))
		})
		s.ClientsTotal = len(s.Clients)
		for _, ex := range g.examples {
			s.Examples = append(s.Examples, ex.line)
		}
		for f := range g.files {
			s.Files = append(s.Files, f)
		}
		slices.Sort(s.Files)
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y Summary) int {
		return cmp.Or(cmp.Compare(rank[x.Kind], rank[y.Kind]), strings.Compare(string(x.Source), string(y.Source)),
			cmp.Compare(x.X509Code, y.X509Code), strings.Compare(x.Upstream, y.Upstream))
	})
	return out
}

// TopClients sums the NGINX-side events per client over summaries, most first, at most n.
func TopClients(sums []Summary, n int) []ClientCount {
	total := map[string]int{}
	for _, s := range sums {
		for _, c := range s.Clients {
			total[c.Client] += c.Count
		}
	}
	out := make([]ClientCount, 0, len(total))
	for c, k := range total {
		out = append(out, ClientCount{c, k})
	}
	slices.SortFunc(out, func(x, y ClientCount) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), strings.Compare(x.Client, y.Client))
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
