package diagnostics

import (
	"regexp"
	"strings"
)

var plainWordRE = regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_-]+$`)

// shellWord quotes s for POSIX sh when it needs it.
func shellWord(s string) string {
	if plainWordRE.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
