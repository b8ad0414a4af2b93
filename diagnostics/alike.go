package diagnostics

import "fmt"

// maxAlike is how many servers (or served certificate files) with alike verdicts a
// finding lists beside the worst one before it only counts the rest: a fleet-sized
// configuration of 10,000 agent-facing servers would otherwise repeat every server in
// every manager finding.
const maxAlike = 3

// otherVerdicts appends to ev one note per result other than worst ("ok: summary" at
// where(i)), listing at most maxAlike alike ones, then a note counting the rest. Results
// are alike when they share a severity and, for warnings and failures, the summary too:
// every distinct problem stays listed, while the healthy servers are counted.
func otherVerdicts(ev []Evidence, results []Result, worst int, where func(i int) string) []Evidence {
	type group struct {
		listed, more int
		first        int // index of the group's first result, for the count's wording
	}
	groups := map[string]*group{}
	var order []string
	for i, r := range results {
		if i == worst {
			continue
		}
		key := r.Severity.String()
		if r.Severity >= SeverityWarn {
			key += "\x00" + r.Summary
		}
		g := groups[key]
		if g == nil {
			g = &group{first: i}
			groups[key] = g
			order = append(order, key)
		}
		if g.listed < maxAlike {
			g.listed++
			ev = append(ev, Note(where(i), "%s: %s", r.Severity, r.Summary))
			continue
		}
		g.more++
	}
	for _, key := range order {
		g := groups[key]
		if g.more == 0 {
			continue
		}
		r := results[g.first]
		if r.Severity >= SeverityWarn {
			ev = append(ev, Note("", "and %s alike (%s: %s)", moreServers(g.more), r.Severity, r.Summary))
		} else {
			ev = append(ev, Note("", "and %s %s", moreServers(g.more), r.Severity))
		}
	}
	return ev
}

// moreServers counts servers in words: "1 more server", "9,996 more servers".
func moreServers(n int) string {
	if n == 1 {
		return "1 more server"
	}
	return groupThousands(n) + " more servers"
}

// groupThousands writes n with commas between groups of three digits.
func groupThousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
