package nginxconf

import (
	"regexp"
	"strings"
)

// SelectLocation returns the location nginx chooses for uri in server s, or nil when no
// location matches. It follows ngx_http_core_find_location
// (src/http/ngx_http_core_module.c) and the location directive's documentation
// (https://nginx.org/en/docs/http/ngx_http_core_module.html#location):
//
//   - an exact ("=") location equal to uri wins at once;
//   - otherwise the longest prefix ("" or "^~") is remembered and its nested locations
//     are searched the same way;
//   - then, unless that longest prefix is "^~", the regular expressions ("~", "~*") of
//     this level are tried in the order they are written, and the first that matches
//     wins (with its own nested locations searched);
//   - else the remembered prefix (or the nested prefix found inside it) is used.
//
// Named ("@") locations never match a request.
func SelectLocation(s *Server, uri string) *Location {
	byDirective := map[*Directive]*Location{}
	for i := range s.Locations {
		byDirective[s.Locations[i].Directive] = &s.Locations[i]
	}
	d, _ := findLocation(s.Directive.Block, byDirective, uri)
	if d == nil {
		return nil
	}
	return byDirective[d]
}

// findLocation searches one level of location blocks. final reports nginx's NGX_OK (an
// exact or regex match, which ends the search); a prefix match is not final, so the
// enclosing level still tries its regular expressions.
func findLocation(block []*Directive, locs map[*Directive]*Location, uri string) (found *Directive, final bool) {
	var best *Directive
	var bestLen int
	noregex := false
	var regexes []*Location
	for _, d := range block {
		l := locs[d]
		if l == nil || strings.HasPrefix(l.Path, "@") {
			continue
		}
		switch l.Modifier {
		case "=":
			if l.Path == uri {
				return d, true
			}
		case "", "^~":
			if strings.HasPrefix(uri, l.Path) && (best == nil || len(l.Path) > bestLen) {
				best, bestLen, noregex = d, len(l.Path), l.Modifier == "^~"
			}
		case "~", "~*":
			regexes = append(regexes, l)
		}
	}
	cur := best
	if best != nil {
		if nested, nestedFinal := findLocation(best.Block, locs, uri); nested != nil {
			if nestedFinal {
				return nested, true
			}
			cur = nested
		}
	}
	if !noregex {
		for _, l := range regexes {
			if locationRegexMatch(l, uri) {
				if nested, _ := findLocation(l.Directive.Block, locs, uri); nested != nil {
					return nested, true
				}
				return l.Directive, true
			}
		}
	}
	return cur, false
}

// locationRegexMatch matches uri against a regex location. nginx uses PCRE; a pattern
// Go's RE2 cannot compile (backreferences, lookaround) is treated as not matching.
func locationRegexMatch(l *Location, uri string) bool {
	pat := l.Path
	if l.Modifier == "~*" {
		pat = "(?i)" + pat
	}
	re, err := regexp.Compile(pat)
	return err == nil && re.MatchString(uri)
}
