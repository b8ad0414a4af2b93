package demolab

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// logWriter writes NGINX's error.log and access.log lines (src/core/ngx_log.c and
// ngx_http_log_module.c's combined format).
type logWriter struct {
	mu          sync.Mutex
	errs, acc   *os.File
	pid         int
	serverName  string
	timeNowFunc func() time.Time // the lab's clock
}

func openLogs(dir string, clock func() time.Time) (*logWriter, error) {
	open := func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	errs, err := open(ErrorLogName)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	acc, err := open(AccessLogName)
	if err != nil {
		errs.Close()
		return nil, fmt.Errorf("lab: %w", err)
	}
	return &logWriter{errs: errs, acc: acc, pid: os.Getpid(), serverName: ServerName, timeNowFunc: clock}, nil
}

func (w *logWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.errs.Close()
	if aerr := w.acc.Close(); err == nil {
		err = aerr
	}
	return err
}

// line writes "2026/11/30 20:55:01 [level] PID#TID: *N msg, client: ..., server: ...".
func (w *logWriter) line(level string, ci *connInfo, msg, tail string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	conn := ""
	if ci != nil && ci.id > 0 {
		conn = fmt.Sprintf("*%d ", ci.id)
	}
	client := "127.0.0.1"
	if ci != nil && ci.client != "" {
		client = ci.client
	}
	fmt.Fprintf(w.errs, "%s [%s] %d#%d: %s%s, client: %s, server: %s\n",
		w.timeNowFunc().Format("2006/01/02 15:04:05"), level, w.pid, w.pid, conn, msg, client, tail)
}

// emerg logs what NGINX's master process logs when a reload finds the configuration
// invalid: the [emerg] line (with no client: the master has none), and keeps running.
func (w *logWriter) emerg(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.errs, "%s [emerg] %d#%d: %s\n", w.timeNowFunc().Format("2006/01/02 15:04:05"), w.pid, w.pid, msg)
}

// info logs a connection-level line (no request yet): server is the listen address.
func (w *logWriter) info(ci *connInfo, msg, listen string) { w.line("info", ci, msg, listen) }

// infoReq logs a request-level info line: server is server_name, then request and host.
func (w *logWriter) infoReq(ci *connInfo, msg, request, host string) {
	w.infoReqAt(w.serverName, ci, msg, request, host)
}

// infoReqAt logs a request-level info line of the server block named server.
func (w *logWriter) infoReqAt(server string, ci *connInfo, msg, request, host string) {
	w.line("info", ci, msg, requestTail(server, request, host))
}

// infoAt logs a connection-level line of the listener at listen (the upstream's).
func (w *logWriter) infoAt(ci *connInfo, msg, listen string) { w.line("info", ci, msg, listen) }

// errorReq logs a request-level error line.
func (w *logWriter) errorReq(ci *connInfo, msg, request, host string) {
	w.line("error", ci, msg, requestTail(w.serverName, request, host))
}

// errorReqAt logs a request-level error line of the server block named server.
func (w *logWriter) errorReqAt(server string, ci *connInfo, msg, request, host string) {
	w.line("error", ci, msg, requestTail(server, request, host))
}

// upstreamLine logs a line about a request's upstream at level, of the server block
// named server: ", upstream: "…"" follows the request.
func (w *logWriter) upstreamLine(level, server string, ci *connInfo, msg, request, upstream, host string) {
	w.line(level, ci, msg, requestTail(server, request, host, upstream))
}

// errorUpstream logs a request-level error line about the upstream.
func (w *logWriter) errorUpstream(ci *connInfo, msg, request, upstream, host string) {
	w.line("error", ci, msg, requestTail(w.serverName, request, host, upstream))
}

// requestTail is ", server: NAME, request: ..., upstream: ..., host: ..." after "server: ".
func requestTail(server, request, host string, upstream ...string) string {
	s := server + `, request: "` + escapeLog(request) + `"`
	for _, u := range upstream {
		s += `, upstream: "` + escapeLog(u) + `"`
	}
	if host != "" {
		s += `, host: "` + escapeLog(host) + `"`
	}
	return s
}

// access writes a combined-format line: status is what went on the wire (400, not 495).
func (w *logWriter) access(client, request string, status, bytes int, agent string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if agent == "" {
		agent = "-"
	}
	fmt.Fprintf(w.acc, "%s - - [%s] \"%s\" %d %d \"-\" \"%s\"\n", client,
		w.timeNowFunc().Format("02/Jan/2006:15:04:05 -0700"), escapeLog(request), status, bytes, escapeLog(agent))
}

// escapeLog escapes what NGINX escapes in logged strings: quotes, backslashes and control
// bytes as \xHH.
func escapeLog(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, `\x%02X`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func nullLogger() *log.Logger { return log.New(io.Discard, "", 0) }
