package nginxconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// execTimeout bounds an nginx run when ctx has no deadline of its own.
const execTimeout = 10 * time.Second

// Binary returns the nginx binary to run: "nginx" from PATH, else /usr/sbin/nginx.
func Binary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("/usr/sbin/nginx"); err == nil {
		return p, nil
	}
	return "", errors.New("nginx binary not found in PATH or /usr/sbin")
}

// VersionFromBinary runs `nginx -v` with the binary found by Binary and returns the
// version, e.g. "1.22.1".
func VersionFromBinary(ctx context.Context) (string, error) {
	bin, err := Binary()
	if err != nil {
		return "", err
	}
	_, stderr, err := run(ctx, bin, "-v")
	if err != nil {
		return "", err
	}
	return ParseVersion(stderr)
}

var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`nginx version: [^/\s]+/(\d+(?:\.\d+)*)`) })

// ParseVersion reads the version out of `nginx -v` or `nginx -V` output:
// "nginx version: nginx/1.22.1" gives "1.22.1"; NGINX Plus prints
// "nginx version: nginx/1.25.3 (nginx-plus-r31)" and gives "1.25.3".
func ParseVersion(out string) (string, error) {
	m := versionRE().FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no version in nginx output %q", firstLine(out))
	}
	return m[1], nil
}

// VersionAtLeast reports whether version v (e.g. "1.22.1") is at least min
// (e.g. "1.25.1"). An unparsable v is treated as older.
func VersionAtLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := 0; i < len(b); i++ {
		var x int
		if i < len(a) {
			n, err := strconv.Atoi(a[i])
			if err != nil {
				return false
			}
			x = n
		}
		y, _ := strconv.Atoi(b[i])
		if x != y {
			return x > y
		}
	}
	return true
}

// BuildInfo is what `nginx -V` says about the build.
type BuildInfo struct {
	Version       string
	Prefix        string // --prefix: where relative log and pid paths resolve
	ConfPath      string // --conf-path: the default -c
	ErrorLogPath  string // --error-log-path: the default error log ("stderr" on Debian)
	AccessLogPath string // --http-log-path
	PIDPath       string // --pid-path
}

// Options returns parser Options that match this build.
func (b BuildInfo) Options() Options {
	return Options{Prefix: b.Prefix, ErrorLogPath: b.ErrorLogPath, AccessLogPath: b.AccessLogPath}
}

// Build runs `binary -V` and parses it.
func Build(ctx context.Context, binary string) (BuildInfo, error) {
	_, stderr, err := run(ctx, binary, "-V")
	if err != nil {
		return BuildInfo{}, err
	}
	return ParseBuild(stderr)
}

// ParseBuild parses `nginx -V` output.
func ParseBuild(out string) (BuildInfo, error) {
	v, err := ParseVersion(out)
	if err != nil {
		return BuildInfo{}, err
	}
	b := BuildInfo{Version: v, Prefix: "/usr/local/nginx"} // nginx's own default prefix
	for _, f := range strings.Fields(out) {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch k {
		case "--prefix":
			b.Prefix = val
		case "--conf-path":
			b.ConfPath = val
		case "--error-log-path":
			b.ErrorLogPath = val
		case "--http-log-path":
			b.AccessLogPath = val
		case "--pid-path":
			b.PIDPath = val
		}
	}
	return b, nil
}

// Dump runs `binary -T -c confPath` and returns its standard output, which
// ParseDump reads. When nginx rejects the configuration the error is an Error
// carrying nginx's message and file:line.
func Dump(ctx context.Context, binary, confPath string) (io.Reader, error) {
	return dump(ctx, binary, "-T", "-c", confPath)
}

// Test runs `binary -t -c confPath`: nil when nginx accepts the configuration, an
// Error with nginx's message and file:line when it rejects it, another error when
// nginx could not be run. Like any `nginx -t`, a configuration that parses makes
// nginx open (and create) the log files it names; run it as the nginx admin would.
func Test(ctx context.Context, binary, confPath string) error {
	_, err := dump(ctx, binary, "-t", "-c", confPath)
	return err
}

// TestPrefix is Test with nginx's -p prefix (--nginx-prefix); an empty prefix is Test.
func TestPrefix(ctx context.Context, binary, confPath, prefix string) error {
	if prefix == "" {
		return Test(ctx, binary, confPath)
	}
	_, err := dump(ctx, binary, "-t", "-p", prefix, "-c", confPath)
	return err
}

func dump(ctx context.Context, binary string, args ...string) (io.Reader, error) {
	stdout, stderr, err := run(ctx, binary, args...)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if e, ok := ParseEmerg(stderr); ok {
				return nil, e
			}
			return nil, fmt.Errorf("%s %s: %s", binary, strings.Join(args, " "), firstLine(stderr))
		}
		return nil, err
	}
	return bytes.NewReader(stdout), nil
}

var (
	emergStart = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[emerg\] (?:\d+#\d+: )?`) })
	// nextLogLine starts the line after an emerg message, which may itself span
	// lines (a directive name can hold a newline).
	nextLogLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\n(?:nginx: |\d{4}/\d\d/\d\d )`) })
	emergPos    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?s)^(.*) in (\S+):(\d+)$`) })
)

// ParseEmerg finds nginx's first "[emerg]" message in stderr output, e.g.
// `nginx: [emerg] unexpected "}" in /etc/nginx/nginx.conf:12`, and returns it as an Error.
func ParseEmerg(stderr string) (Error, bool) {
	loc := emergStart().FindStringIndex(stderr)
	if loc == nil {
		return Error{}, false
	}
	msg := stderr[loc[1]:]
	if end := nextLogLine().FindStringIndex(msg); end != nil {
		msg = msg[:end[0]]
	}
	msg = strings.TrimRight(msg, "\r\n")
	m := emergPos().FindStringSubmatch(msg)
	if m == nil {
		return Error{Msg: msg}, true
	}
	e := Error{Msg: m[1], File: m[2]}
	e.Line, _ = strconv.Atoi(m[3])
	return e, true
}

func run(ctx context.Context, binary string, args ...string) ([]byte, string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, execTimeout)
		defer cancel()
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, stderr.String(), fmt.Errorf("%s %s: %w", binary, strings.Join(args, " "), ctx.Err())
	}
	return stdout.Bytes(), stderr.String(), err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
