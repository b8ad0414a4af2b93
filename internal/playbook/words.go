package playbook

import (
	"path/filepath"
	"slices"
	"strings"
)

// This file reads a command the way sh would split it (POSIX Shell Command Language 2.2
// Quoting, 2.3 Token Recognition, 2.7 Redirection) far enough to know which files it
// writes and whether it reloads a service. It does not expand anything: a word with $ or
// a glob is taken as written, and a file it cannot name is simply not found; the step's
// Changes list is the authority.

// token is a word (quotes removed) or an operator.
type token struct {
	text string
	op   bool
}

// tokens splits cmd into words and operators. Unterminated quotes end the word.
func tokens(cmd string) []token {
	var out []token
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			out = append(out, token{text: w.String()})
			w.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\'':
			inWord = true
			end := strings.IndexByte(cmd[i+1:], '\'')
			if end < 0 {
				w.WriteString(cmd[i+1:])
				i = len(cmd)
				break
			}
			w.WriteString(cmd[i+1 : i+1+end])
			i += end + 1
		case c == '"':
			inWord = true
			for i++; i < len(cmd) && cmd[i] != '"'; i++ {
				if cmd[i] == '\\' && i+1 < len(cmd) && strings.IndexByte("$`\"\\\n", cmd[i+1]) >= 0 {
					i++
				}
				w.WriteByte(cmd[i])
			}
		case c == '\\' && i+1 < len(cmd):
			inWord = true
			i++
			w.WriteByte(cmd[i])
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '>' || c == '<':
			// "2>" names a file descriptor: the digits are not a word.
			if inWord && isDigits(w.String()) {
				w.Reset()
				inWord = false
			}
			flush()
			op := string(c)
			if i+1 < len(cmd) && (cmd[i+1] == '>' || cmd[i+1] == '&' || cmd[i+1] == '|') {
				i++
				op += string(cmd[i])
			}
			out = append(out, token{text: op, op: true})
		case c == '|' || c == '&' || c == ';' || c == '(' || c == ')':
			flush()
			op := string(c)
			if i+1 < len(cmd) && (c == '|' || c == '&') && cmd[i+1] == c {
				i++
				op += string(c)
			}
			out = append(out, token{text: op, op: true})
		default:
			inWord = true
			w.WriteByte(c)
		}
	}
	flush()
	return out
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// simpleCommands splits tokens at |, &&, ||, ; and & into simple commands, returning each
// one's words and the files its output redirections (>, >>, >|) name.
func simpleCommands(cmd string) (cmds [][]string, redirected []string) {
	var cur []string
	toks := tokens(cmd)
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if !t.op {
			cur = append(cur, t.text)
			continue
		}
		switch t.text {
		case ">", ">>", ">|":
			if i+1 < len(toks) && !toks[i+1].op {
				redirected = append(redirected, toks[i+1].text)
				i++
			}
		case "<", ">&", "<&":
			if i+1 < len(toks) && !toks[i+1].op {
				i++
			}
		default:
			if len(cur) > 0 {
				cmds = append(cmds, cur)
			}
			cur = nil
		}
	}
	if len(cur) > 0 {
		cmds = append(cmds, cur)
	}
	return cmds, redirected
}

// program strips what runs a command for another (sudo and its options, env, VAR=value
// assignments) and returns the command's own words.
func program(words []string) []string {
	for len(words) > 0 {
		w := words[0]
		switch {
		case strings.Contains(w, "=") && !strings.HasPrefix(w, "-") && !strings.Contains(w, "/"):
			words = words[1:]
		case w == "sudo" || w == "env" || w == "command" || w == "exec" || w == "nohup":
			words = words[1:]
			for len(words) > 0 && strings.HasPrefix(words[0], "-") {
				opt := words[0]
				words = words[1:]
				// sudo's options that take an argument.
				if w == "sudo" && slices.Contains([]string{"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"}, opt) && len(words) > 0 {
					words = words[1:]
				}
			}
		default:
			return words
		}
	}
	return nil
}

// WrittenFiles lists the files the commands write that can be told from their words:
// output redirections, tee's arguments, the destination of cp, mv and install, the files
// of sed -i, and what sudoedit edits. Relative paths are resolved against dir; /dev/*
// is left out.
func WrittenFiles(commands []string, dir string) []string {
	var out []string
	add := func(p string) {
		if p == "" || p == "-" || strings.HasPrefix(p, "/dev/") || strings.ContainsAny(p, "$`*?[") {
			return
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		p = filepath.Clean(p)
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, c := range commands {
		cmds, redirected := simpleCommands(c)
		for _, r := range redirected {
			add(r)
		}
		for _, words := range cmds {
			words = program(words)
			if len(words) == 0 {
				continue
			}
			args := operands(words[1:])
			switch filepath.Base(words[0]) {
			case "tee", "sudoedit":
				for _, a := range args {
					add(a)
				}
			case "cp", "mv", "install", "ln":
				if len(args) >= 2 && !isDirFlag(words[1:]) {
					add(args[len(args)-1])
				}
			case "sed":
				if hasFlag(words[1:], "-i") && len(args) >= 2 {
					for _, a := range args[1:] {
						add(a)
					}
				}
			case "openssl":
				// openssl writes what -out (and genpkey/req's -keyout) names.
				for i, w := range words[:len(words)-1] {
					if w == "-out" || w == "-keyout" {
						add(words[i+1])
					}
				}
			}
		}
	}
	return out
}

// TouchedPaths are WrittenFiles plus what mkdir, rm, rmdir, touch, truncate, chmod, chown
// and chgrp name: every path the commands can be seen to change, for confining a step to
// one directory.
func TouchedPaths(commands []string, dir string) []string {
	out := WrittenFiles(commands, dir)
	for _, c := range commands {
		cmds, _ := simpleCommands(c)
		for _, words := range cmds {
			words = program(words)
			if len(words) == 0 {
				continue
			}
			args := operands(words[1:])
			switch filepath.Base(words[0]) {
			case "chmod", "chown", "chgrp":
				if len(args) > 0 {
					args = args[1:] // the mode or owner
				}
			case "mkdir", "rm", "rmdir", "touch", "truncate":
			default:
				continue
			}
			for _, a := range args {
				if !filepath.IsAbs(a) {
					a = filepath.Join(dir, a)
				}
				if a = filepath.Clean(a); !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// operands are the words that are not options (nor the argument of -m, -o, -g, -t, -e
// and -f, which install, sed and cp take).
func operands(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") && len(w) > 1 {
			if slices.Contains([]string{"-m", "-o", "-g", "-t", "-e", "-f", "-S"}, w) {
				i++
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

// isDirFlag reports install -d or cp/mv -t: the last operand is not a file written.
func isDirFlag(words []string) bool { return hasFlag(words, "-d") || hasFlag(words, "-t") }

func hasFlag(words []string, flag string) bool {
	for _, w := range words {
		if w == flag || (strings.HasPrefix(w, flag) && len(flag) == 2 && !strings.HasPrefix(w, "--")) {
			return true
		}
	}
	return false
}

// ReloadsNginx reports whether cmd reloads or (re)starts NGINX: `nginx -s reload`,
// `systemctl reload|restart|start nginx`, `service nginx reload|restart`.
func ReloadsNginx(cmd string) bool {
	cmds, _ := simpleCommands(cmd)
	for _, words := range cmds {
		words = program(words)
		if len(words) == 0 {
			continue
		}
		switch filepath.Base(words[0]) {
		case "nginx":
			for i, w := range words[:len(words)-1] {
				if w == "-s" && (words[i+1] == "reload") {
					return true
				}
			}
		case "systemctl":
			if restartsUnit(words[1:], "nginx") {
				return true
			}
		case "service":
			if len(words) >= 3 && words[1] == "nginx" && slices.Contains([]string{"reload", "restart", "start"}, words[2]) {
				return true
			}
		}
	}
	return false
}

// Restarts reports whether cmd reloads or restarts any service: such a command is run
// again after a rollback so the service reads the restored files.
func Restarts(cmd string) bool {
	if ReloadsNginx(cmd) {
		return true
	}
	cmds, _ := simpleCommands(cmd)
	for _, words := range cmds {
		words = program(words)
		if len(words) >= 2 && filepath.Base(words[0]) == "systemctl" && restartsUnit(words[1:], "") {
			return true
		}
	}
	return false
}

// restartsUnit reports whether systemctl's arguments reload or (re)start unit ("" for any).
func restartsUnit(args []string, unit string) bool {
	args = operands(args)
	if len(args) < 2 || !slices.Contains([]string{"reload", "restart", "start", "try-restart", "reload-or-restart"}, args[0]) {
		return false
	}
	if unit == "" {
		return true
	}
	for _, u := range args[1:] {
		if strings.TrimSuffix(u, ".service") == unit {
			return true
		}
	}
	return false
}

// interactivePrograms wait for a person at a terminal: a step that runs one cannot be
// applied, only copied.
var interactivePrograms = []string{"vi", "vim", "nvim", "nano", "emacs", "pico", "ed", "sudoedit", "editor",
	"sensible-editor", "visudo", "less", "more", "most", "top", "htop", "watch"}

// Interactive returns the program of cmd that needs a person at a terminal (an editor, a
// pager), or "".
func Interactive(cmd string) string {
	cmds, _ := simpleCommands(cmd)
	for _, words := range cmds {
		if len(words) > 1 && words[0] == "sudo" && (words[1] == "-e" || words[1] == "--edit") {
			return "sudo -e"
		}
		words = program(words)
		if len(words) > 0 && slices.Contains(interactivePrograms, filepath.Base(words[0])) {
			return filepath.Base(words[0])
		}
	}
	return ""
}
