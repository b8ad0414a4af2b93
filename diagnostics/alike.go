package diagnostics

import (
	"fmt"
	"strings"
)

// maxAlike is how many servers (or served certificate files) with alike verdicts a
// finding lists beside the worst one before it only counts the rest: a fleet-sized
// configuration of 10,000 agent-facing servers would otherwise repeat every server in
// every manager finding.
const maxAlike = 3

// otherVerdicts appends to ev one note per result other than worst ("ok: summary" at
// where(i)), listing at most maxAlike alike ones, then a note counting the rest, each a
// noun ("server", "link"). Results are alike when they share a severity and, for warnings
// and failures, the cause too: its Cause when the check names one, else the summary. A
// summary names its own server ("server_name nim17.example.com is not in the SANs …"), so
// keying on it would list every server of a fleet; the Cause is the kind of problem, and
// the first maxAlike of each kind stay listed with their full summaries as examples. A
// skip without a summary (the check does not apply there) is left out.
func otherVerdicts(ev []Evidence, results []Result, worst int, where func(i int) string, noun string) []Evidence {
	type group struct {
		listed, more int
		first        int // index of the group's first result, for the count's wording
	}
	groups := map[string]*group{}
	var order []string
	for i, r := range results {
		if i == worst || r.Severity == SeveritySkip && r.Summary == "" {
			continue
		}
		key := alikeKey(r)
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
		if r.Severity >= SeverityWarn && !r.Cause.IsZero() {
			ev = append(ev, Note("", "and %s alike (%s: %s)", more(g.more, noun), r.Severity, causeText(r.Cause)))
		} else if r.Severity >= SeverityWarn {
			ev = append(ev, Note("", "and %s alike (%s: %s)", more(g.more, noun), r.Severity, r.Summary))
		} else {
			ev = append(ev, Note("", "and %s %s", more(g.more, noun), r.Severity))
		}
	}
	return ev
}

// alikeKey is what results share when otherVerdicts counts them together: the severity,
// and for a warning or failure its Cause when one is recorded, else its summary.
func alikeKey(r Result) string {
	key := r.Severity.String()
	switch {
	case r.Severity < SeverityWarn:
	case !r.Cause.IsZero():
		key += fmt.Sprintf("\x00cause\x00%s\x00%d\x00%d", r.Cause.Code, r.Cause.OpenSSL, r.Cause.Alert)
	default:
		key += "\x00summary\x00" + r.Summary
	}
	return key
}

// causeText names a cause for a count of alike verdicts: "cause name-mismatch",
// "cause verify-error, X509_V_ERR 20".
func causeText(c Cause) string {
	var parts []string
	if c.Code != "" {
		parts = append(parts, "cause "+c.Code)
	}
	if c.OpenSSL != 0 {
		parts = append(parts, fmt.Sprintf("X509_V_ERR %d", c.OpenSSL))
	}
	if c.Alert != 0 {
		parts = append(parts, fmt.Sprintf("TLS alert %d", c.Alert))
	}
	return strings.Join(parts, ", ")
}

// moreServers counts servers in words: "1 more server", "9,996 more servers".
func moreServers(n int) string { return more(n, "server") }

// more counts n more of noun: "1 more link", "12,345 more servers".
func more(n int, noun string) string {
	if n == 1 {
		return "1 more " + noun
	}
	return groupThousands(n) + " more " + noun + "s"
}

// groupThousands writes n with commas between groups of three digits.
func groupThousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
