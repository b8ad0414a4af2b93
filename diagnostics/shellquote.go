package diagnostics

import "strings"

// shellQuote quotes s as one word for a POSIX shell: bare when every character is one no
// shell treats specially, else in single quotes, inside which nothing is special; an
// embedded single quote closes the quoting, is escaped with a backslash and reopens it
// (POSIX Shell Command Language, 2.2.2 Single-Quotes). Every path, host and name a
// playbook command takes from the host goes through it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShellQuote is shellQuote for code outside diagnostics that puts a value into a step's
// command (a placeholder the user filled in), so there is one quoting rule.
func ShellQuote(s string) string { return shellQuote(s) }
