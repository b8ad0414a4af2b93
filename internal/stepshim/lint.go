package stepshim

import (
	"regexp"
	"slices"
	"sync"
)

// nginxReload matches a command that makes a running NGINX load its configuration again:
// `nginx -s reload` (with its -p/-c/-g options), a systemctl reload or restart of the nginx
// unit, or a systemctl reload of any other unit but NGINX Agent and NGINX Instance
// Manager's (an upstream's NGINX service: a service that is not NGINX is restarted).
var nginxReload = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\bnginx((?:\s+-[pcg]\s+(?:'[^']*'|\S+))*)\s+-s\s+reload\b((?:\s+-[pcg]\s+(?:'[^']*'|\S+))*)` +
		`|\bsystemctl\s+(?:(?:reload-or-)?restart|try-restart|try-reload-or-restart)\s+'?nginx(?:\.service)?'?(?:\s|$)` +
		`|\bsystemctl\s+reload\s+('[^']*'|\S+)`)
})

// nginxTest matches `nginx -t` (or -T) with the options before and after it.
var nginxTest = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\bnginx((?:\s+-[pcg]\s+(?:'[^']*'|\S+))*)\s+-[tT]\b((?:\s+-q)?(?:\s+-[pcg]\s+(?:'[^']*'|\S+))*)`)
})

// notNginx are units whose reload is not NGINX's.
var notNginx = regexp.MustCompile(`^'?(nginx-agent|nms[a-z-]*)(\.service)?'?$`)

// chainBreak splits a command where what follows runs although what came before failed.
var chainBreak = regexp.MustCompile(`;|\|\||\n`)

// ReloadWithoutTest returns the first of a step's commands that reloads or restarts NGINX
// without an `nginx -t` before it whose failure stops it: earlier in the same && chain, or
// in the last chain of an earlier command (a step stops at the first command that fails).
// `nginx -s reload` needs the test of the same configuration (the same -p and -c options);
// a reload through systemctl any test. ok is false when every reload is tested.
func ReloadWithoutTest(commands []string) (command string, ok bool) {
	var guard []string // the options of the tests that stop the step when they fail
	for _, c := range commands {
		chains := chainBreak.Split(c, -1)
		for i, chain := range chains {
			tests := nginxTest().FindAllStringSubmatchIndex(chain, -1)
			for _, m := range nginxReload().FindAllStringSubmatchIndex(chain, -1) {
				if m[6] >= 0 && notNginx.MatchString(chain[m[6]:m[7]]) {
					continue
				}
				want, viaSystemd := "", m[2] < 0
				if !viaSystemd {
					want = options(chain[m[2]:m[3]] + " " + chain[m[4]:m[5]])
				}
				found := slices.ContainsFunc(guard, func(o string) bool { return viaSystemd || o == want })
				for _, t := range tests {
					found = found || t[0] < m[0] && (viaSystemd || options(chain[t[2]:t[3]]+" "+chain[t[4]:t[5]]) == want)
				}
				if !found {
					return c, true
				}
			}
			if i == len(chains)-1 {
				for _, t := range tests {
					guard = append(guard, options(chain[t[2]:t[3]]+" "+chain[t[4]:t[5]]))
				}
			}
		}
	}
	return "", false
}

// options normalises the -p and -c options of an nginx command line (-g and -q do not
// choose the configuration).
func options(s string) string {
	var p, c string
	for _, m := range optionPattern.FindAllStringSubmatch(s, -1) {
		if m[1] == "p" {
			p = m[2]
		} else {
			c = m[2]
		}
	}
	return "-p " + p + " -c " + c
}

var optionPattern = regexp.MustCompile(`-([pc])\s+('[^']*'|\S+)`)
