package nginxconf

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
)

// syntaxErrors are the messages that come from nginx's tokenizer, block checks and include,
// i.e. the ones this package must reproduce.
var syntaxErrors = []string{"unexpected ", "directive \"", "too long parameter", "open() "}

// fragments make up random configurations: real directive names in and out of
// place, and every character the tokenizer treats specially.
var fragments = []string{
	"events", "http", "server", "location", "if", "map", "upstream", "listen", "return",
	"add_header", "set", "ssl_verify_client", "error_page", "x", "/", "200", "on",
	"{", "}", ";", "\"", "'", "\\", "#", "$", "${", ")", "(", "$a", "\"q\"", "'s'",
	" ", " ", " ", "\n", "\t", "\r\n", "\\\"", "x\"y", "{}", "a;b", "include", "x.conf", "*.conf",
}

// randomConfigs is how many TestRandomConfigsMatchNginx tries (about 10 ms each).
const randomConfigs = 300

// TestRandomConfigsMatchNginx feeds random token soup to the real nginx and to Load.
// When nginx rejects it with a syntax error we must say exactly the same; when it
// rejects it for another reason (unknown directive, context) at line N, any error of
// ours must not come earlier; when it parses, we must too.
func TestRandomConfigsMatchNginx(t *testing.T) {
	bin := nginxtest.Require(t)
	rng := rand.New(rand.NewPCG(1, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	compared := 0
	for i := 0; i < randomConfigs; i++ {
		var b strings.Builder
		b.WriteString("events {}\n")
		for n := rng.IntN(30); n > 0; n-- {
			b.WriteString(fragments[rng.IntN(len(fragments))])
			if rng.IntN(2) == 0 {
				b.WriteByte(' ')
			}
		}
		text := b.String()
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, runErr := run(ctx, bin, nginxArgs(dir, "-t")...)
		_, ours := Load(conf, Options{})
		nginxErr, rejected := ParseEmerg(stderr)
		switch {
		case runErr != nil && !rejected:
			// nginx died without a message: "include *.conf" includes itself and
			// nginx 1.22 recurses until it segfaults.
			continue
		case runErr == nil || nginxErr.File == "":
			// Accepted, or rejected after parsing (no position): no syntax error.
			if ours != nil {
				t.Errorf("nginx parsed it, we say %v\n%q", ours, text)
			}
		case isSyntax(nginxErr.Msg):
			compared++
			if ours == nil || ours.Error() != nginxErr.Error() {
				t.Errorf("ours  %v\nnginx %v\n%q", ours, nginxErr, text)
			}
		default:
			var e Error
			if ours != nil {
				e = ours.(Error)
			}
			if ours != nil && e.Line < nginxErr.Line {
				t.Errorf("ours %v comes before nginx's %v\n%q", ours, nginxErr, text)
			}
		}
	}
	t.Logf("%d of %d random configurations compared on a syntax error", compared, randomConfigs)
}

func isSyntax(msg string) bool {
	for _, p := range syntaxErrors {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
