package logparse

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AgentFormat names the line format an agent line was written in.
type AgentFormat string

const (
	// AgentLogrus is agent v2's logrus TextFormatter: time="…" level=error msg="…".
	AgentLogrus AgentFormat = "logrus"
	// AgentLogrusTTY is logrus on a terminal without a log file: INFO[0000] message.
	AgentLogrusTTY AgentFormat = "logrus-tty"
	// AgentSlogText is agent v3's slog TextHandler: time=… level=ERROR msg="…" error="…".
	AgentSlogText AgentFormat = "slog-text"
	// AgentSlogJSON is slog's JSONHandler: {"time":"…","level":"ERROR","msg":"…"}.
	AgentSlogJSON AgentFormat = "slog-json"
)

// AgentEntry is one NGINX Agent log line: logrus TextFormatter in v2
// (nginx/agent v2 src/core/logger/log.go), log/slog TextHandler in v3
// (v3 internal/logger/logger.go).
type AgentEntry struct {
	// Time is the line's timestamp (RFC 3339 with the writer's offset); zero for the
	// TTY format, which shows seconds since start.
	Time time.Time
	// Level is lower case: trace, debug, info, warn, error, fatal or panic
	// (logrus "warning" becomes "warn").
	Level string
	// Msg is the message, unquoted.
	Msg string
	// Error is the v3 error= attribute, unquoted; v2 puts errors inside Msg.
	Error string
	// Format is the line format recognised.
	Format AgentFormat
	// Attrs are the other key=value attributes in line order (correlation_id,
	// server_type, …).
	Attrs []Var
}

// Text is the message and the error joined: what the classifier reads.
func (e *AgentEntry) Text() string {
	if e.Error == "" {
		return e.Msg
	}
	return e.Msg + ": " + e.Error
}

// ParseAgentLine parses one agent log line. It reports false for lines of no known
// agent format (a continuation line, a panic stack, another program's output).
func ParseAgentLine(line string) (AgentEntry, bool) {
	switch {
	case strings.HasPrefix(line, "{"):
		return parseAgentJSON(line)
	case strings.HasPrefix(line, "time="):
		return parseAgentText(line)
	}
	return parseLogrusTTY(line)
}

// mayBeAgentLine reports whether line starts as every line ParseAgentLine accepts does:
// "{", "time=" or logrus's "LEVL[".
func mayBeAgentLine(line string) bool {
	return strings.HasPrefix(line, "{") || strings.HasPrefix(line, "time=") || len(line) >= 6 && line[4] == '['
}

func parseAgentText(line string) (AgentEntry, bool) {
	e := AgentEntry{Format: AgentSlogText}
	var timeText string
	seenLevel := false
	for s := line; s != ""; {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.IndexByte(s[:eq], ' ') >= 0 {
			break // not key=value: a truncated or foreign tail
		}
		key := s[:eq]
		var val string
		var quoted bool
		val, s, quoted = textValue(s[eq+1:])
		switch key {
		case "time":
			timeText = val
			if quoted {
				e.Format = AgentLogrus
			}
		case "level":
			e.Level, seenLevel = normLevel(val), true
		case "msg":
			e.Msg = val
		case "error":
			e.Error = val
		default:
			e.Attrs = append(e.Attrs, Var{Name: key, Value: val})
		}
	}
	if !seenLevel {
		return e, false
	}
	if t, err := time.Parse(time.RFC3339Nano, timeText); err == nil {
		e.Time = t
	}
	return e, true
}

// textValue reads one value: a Go-quoted string (logrus %q, slog strconv.Quote) or a bare
// word. A quoted value cut short or with a bad escape is returned raw, without its quote.
func textValue(s string) (val, rest string, quoted bool) {
	if !strings.HasPrefix(s, `"`) {
		if i := strings.IndexByte(s, ' '); i >= 0 {
			return s[:i], s[i:], false
		}
		return s, "", false
	}
	i := 1
	for i < len(s) && s[i] != '"' {
		if s[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(s) {
		return s[1:], "", true // truncated inside the quotes
	}
	raw := s[:i+1]
	if v, err := strconv.Unquote(raw); err == nil {
		return v, s[i+1:], true
	}
	return raw[1 : len(raw)-1], s[i+1:], true
}

// normLevel lower-cases a level and names logrus's "warning" "warn".
func normLevel(l string) string {
	l = strings.ToLower(l)
	switch l {
	case "warning":
		return "warn"
	case "err":
		return "error"
	}
	return l
}

var ttyLevels = map[string]string{
	"PANI": "panic", "FATA": "fatal", "ERRO": "error", "WARN": "warn", "INFO": "info", "DEBU": "debug", "TRAC": "trace",
}

// parseLogrusTTY reads "INFO[0000] Commander initializing   key=value".
func parseLogrusTTY(line string) (AgentEntry, bool) {
	if len(line) < 6 || line[4] != '[' {
		return AgentEntry{}, false
	}
	level, ok := ttyLevels[line[:4]]
	end := strings.IndexByte(line, ']')
	if !ok || end < 0 {
		return AgentEntry{}, false
	}
	if _, n := atoiPrefix(line[5:end]); n != end-5 {
		return AgentEntry{}, false
	}
	return AgentEntry{Level: level, Msg: strings.TrimSpace(line[end+1:]), Format: AgentLogrusTTY}, true
}

func parseAgentJSON(line string) (AgentEntry, bool) {
	// Without a "level" key the line is no agent line (below); a decode costs
	// microseconds, and auto-detection tries it on every JSON access line. A key can also
	// be spelt with \u escapes, which then leave a "\u" in the line.
	if !strings.Contains(line, "level") && !strings.Contains(line, `\u`) {
		return AgentEntry{}, false
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return AgentEntry{}, false
	}
	e := AgentEntry{Format: AgentSlogJSON}
	level, ok := m["level"].(string)
	if !ok {
		return e, false
	}
	e.Level = normLevel(level)
	e.Msg, _ = m["msg"].(string)
	if s, ok := m["time"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			e.Time = t
		}
	}
	if v, ok := m["error"]; ok {
		e.Error = fmt.Sprint(v)
	}
	for k, v := range m {
		switch k {
		case "time", "level", "msg", "error":
		default:
			e.Attrs = append(e.Attrs, Var{Name: k, Value: fmt.Sprint(v)})
		}
	}
	// Maps have no order; output should.
	slices.SortFunc(e.Attrs, func(a, b Var) int { return strings.Compare(a.Name, b.Name) })
	return e, true
}
