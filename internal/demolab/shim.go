package demolab

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/pki"
)

// The lab's shims let a fix step's own commands run against the lab: <Dir>/bin, first on
// the step's PATH, holds nginx, systemctl, service, journalctl, timedatectl and nginx-agent
// (each a two-line sh script that runs the mtls-doctor binary as a client of the lab), sudo
// (runs its arguments) and sudoedit (refuses: a step that needs an editor cannot be run).
// `nginx -t` judges the lab's files as NGINX would, `nginx -s reload` makes the endpoint
// read them, `systemctl start nginx` starts it, `systemctl restart nms` starts the
// management plane's services behind it.

// ShimEnv is the environment variable that makes the mtls-doctor binary (or a test binary
// whose TestMain calls RunShim) act as one of the lab's shims: "ADDR TOKEN NAME".
const ShimEnv = "MTLS_DOCTOR_LAB_SHIM"

// binDir is the shims' directory inside Lab.Dir; pkiDir holds the lab's CA certificates
// and keys, the inputs a step's placeholders name.
const (
	binDir = "bin"
	pkiDir = "pki"
)

// shimRequest and shimReply are the control protocol: one JSON line each way.
type shimRequest struct {
	Token string   `json:"token"`
	Name  string   `json:"name"`
	Args  []string `json:"args"`
}

type shimReply struct {
	Code   int    `json:"code"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// controlNames are the shims served by the lab process.
var controlNames = []string{"nginx", "systemctl", "service", "journalctl", "timedatectl", "nginx-agent"}

// InstallShims writes the shims into BinDir, running exe for the ones the lab answers, and
// starts the lab's control listener on 127.0.0.1 they talk to. exe is the mtls-doctor
// binary (os.Executable) or a test binary whose TestMain calls RunShim first.
func (l *Lab) InstallShims(exe string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("lab: closed")
	}
	if l.ctl != nil {
		return nil
	}
	dir := filepath.Join(l.Dir, binDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("lab: control listener: %w", err)
	}
	l.ctl, l.ctlToken = ln, hex.EncodeToString(tok)
	scripts := map[string]string{
		"sudo": "#!/bin/sh\n# sudo in the demo lab: the lab's files are the user's, so the command runs as is.\n" +
			"while [ $# -gt 0 ]; do\n  case \"$1\" in\n    -u|-g|-C|-D|-h|-p|-r|-t|-U) shift 2 ;;\n" +
			"    --) shift; break ;;\n    -*) shift ;;\n    *) break ;;\n  esac\ndone\nexec \"$@\"\n",
		"sudoedit": "#!/bin/sh\necho 'sudoedit: the demo lab runs steps without a person at an editor; this step cannot be run as shown' >&2\nexit 1\n",
	}
	for _, name := range controlNames {
		scripts[name] = "#!/bin/sh\n" + ShimEnv + "=" + shQuote(ln.Addr().String()+" "+l.ctlToken+" "+name) +
			"\nexport " + ShimEnv + "\nexec " + shQuote(exe) + " \"$@\"\n"
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o700); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	l.accepts.Add(1)
	go l.acceptLoop(ln, func(c net.Conn) { go l.serveControl(c) }) // answers the shims
	return nil
}

// shQuote quotes s as one sh word.
func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// BinDir is the directory of the lab's shims, to put first on a step's PATH.
func (l *Lab) BinDir() string { return filepath.Join(l.Dir, binDir) }

// Inputs fills the placeholders of the steps (diagnostics' named inputs) with what the lab
// knows: its CA certificates and keys, its file paths and names.
func (l *Lab) Inputs() map[string]string {
	p := func(name string) string { return filepath.Join(l.Dir, pkiDir, name) }
	mgr := func(name string) string { return l.path(filepath.Join(managerDir, name)) }
	host, port, _ := net.SplitHostPort(l.Addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	in := map[string]string{
		"<manager-host>":        ServerName,
		"<manager-port>":        port,
		"<manager-ip>":          host,
		"<agent-name>":          AgentName,
		"<ca-cert-path>":        p("agents-ca.crt"),
		"<ca-key-path>":         p("agents-ca.key"),
		"<root-cert-path>":      p("root-ca.crt"),
		"<root-key-path>":       p("root-ca.key"),
		"<server-ca-cert-path>": p("server-ca.crt"),
		"<server-ca-key-path>":  p("server-ca.key"),
		"<manager-ca-path>":     p("manager-ca.pem"),
		"<agents-ca-path>":      p("agents-ca.pem"),
		"<intermediate-path>":   p("intermediate.pem"),
		"<manager-nginx-conf>":  l.NginxConfPath(),
		"<server-cert-path>":    mgr("server.pem"),
		"<server-key-path>":     mgr("server.key"),
		"<client-ca-path>":      mgr("client-ca.pem"),
		"<crl-path>":            mgr("crl.pem"),
		"<agent-cert-path>":     l.path(AgentCertName),
		"<agent-key-path>":      l.path(AgentKeyName),
		"<backend-address>":     l.mgr.backendAddr,
	}
	if l.HasUpstream() {
		// The upstream link's: its CA (which issues the front's client certificate too), the
		// name in the upstream's certificate, and the front's client certificate files.
		in["<upstream-ca-cert-path>"] = p(upstreamCAName + ".crt")
		in["<upstream-ca-key-path>"] = p(upstreamCAName + ".key")
		in["<upstream-server-ca-path>"] = p(upstreamCAName + ".crt")
		in["<upstream-server-ca-cert-path>"] = p(upstreamCAName + ".crt")
		in["<upstream-server-ca-key-path>"] = p(upstreamCAName + ".key")
		in["<upstream-dns-name>"] = UpstreamName
		in["<proxy-client-cert-path>"] = mgr(proxyCertName)
		in["<proxy-client-key-path>"] = mgr(proxyKeyName)
		if l.up.clientInter != nil {
			in["<intermediate-ca-path>"] = p(clientInterName + ".crt")
		}
		in["<upstream-url>"] = "https://" + l.upstreamTLSAddr()
		if l.up.kind == upstreamGo {
			in["<upstream-service>"] = upstreamUnit
		}
	}
	return in
}

// writePKILocked writes the lab's CAs where Inputs says they are: what an operator keeps
// beside make_certs.sh's output.
func (l *Lab) writePKILocked() error {
	dir := filepath.Join(l.Dir, pkiDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	agentChain := append(slices.Clone(l.agent.issuer), l.root)
	inter := l.agent.issuer
	if len(inter) == 0 {
		inter = []*pki.Cert{l.inter}
	}
	files := map[string][]byte{
		"agents-ca.crt":    pki.CertsPEM(l.agentCA),
		"root-ca.crt":      pki.CertsPEM(l.root),
		"server-ca.crt":    pki.CertsPEM(l.serverCA),
		"manager-ca.pem":   pki.CertsPEM(l.inter, l.root),
		"agents-ca.pem":    pki.CertsPEM(agentChain...),
		"intermediate.pem": pki.CertsPEM(inter...),
	}
	keys := map[string]*pki.Cert{"agents-ca.key": l.agentCA, "root-ca.key": l.root, "server-ca.key": l.serverCA}
	if l.HasUpstream() {
		files[upstreamCAName+".crt"] = pki.CertsPEM(l.up.ca)
		keys[upstreamCAName+".key"] = l.up.ca
		if l.up.clientInter != nil {
			files[clientInterName+".crt"] = pki.CertsPEM(l.up.clientInter)
		}
	}
	for name, c := range keys {
		k, err := c.KeyPEM(pki.PKCS8)
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		files[name] = k
	}
	for name, data := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			mode = 0o600
		}
		if err := pki.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

// controlTimeout bounds one shim's exchange with the lab.
const controlTimeout = 30 * time.Second

func (l *Lab) serveControl(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(controlTimeout))
	line, err := bufio.NewReader(io.LimitReader(c, 1<<20)).ReadBytes('\n')
	if err != nil {
		return
	}
	var req shimRequest
	if json.Unmarshal(line, &req) != nil || req.Token != l.ctlToken {
		return
	}
	reply := l.shim(req.Name, req.Args)
	data, _ := json.Marshal(reply)
	_, _ = c.Write(append(data, '\n'))
}

// shim runs the lab's shim name with args in the lab process and returns what the command
// would print and its exit code.
func (l *Lab) shim(name string, args []string) shimReply {
	var out, errb strings.Builder
	code := 0
	switch name {
	case "nginx":
		code = l.nginxCommand(args, &out, &errb)
	case "systemctl":
		code = l.systemctl(args, &out, &errb)
	case "service":
		// service UNIT VERB is systemctl VERB UNIT.
		if len(args) >= 2 {
			code = l.systemctl([]string{args[1], args[0]}, &out, &errb)
		} else {
			errb.WriteString("Usage: service < option > | --status-all | [ service_name [ command | --full-restart ] ]\n")
			code = 1
		}
	case "journalctl":
		out.WriteString("-- No entries --\n")
	case "timedatectl":
		fmt.Fprintf(&out, "               Local time: %s\n", l.Clock().Format("Mon 2006-01-02 15:04:05 MST"))
		out.WriteString("System clock synchronized: yes\n              NTP service: active\n")
	case "nginx-agent":
		if slices.Contains(args, "-v") || slices.Contains(args, "--version") {
			out.WriteString("nginx-agent version v2.38.0\n")
		}
	default:
		fmt.Fprintf(&errb, "%s: not a shim of the demo lab\n", name)
		code = 127
	}
	return shimReply{Code: code, Stdout: out.String(), Stderr: errb.String()}
}

// nginxVersion is the version the lab's nginx shim claims (Debian 12's package).
const nginxVersion = "nginx/1.22.1"

// nginxCommand is `nginx` in the lab: -v, -V, -t, -T, -s reload|stop|quit, or start.
func (l *Lab) nginxCommand(args []string, out, errb io.Writer) int {
	var test, dump, quiet bool
	var signal, conf string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-v", "-V":
			fmt.Fprintf(errb, "nginx version: %s\n", nginxVersion)
			return 0
		case "-t":
			test = true
		case "-T":
			test, dump = true, true
		case "-q":
			quiet = true
		case "-s", "-c", "-p", "-g", "-e":
			if i+1 >= len(args) {
				fmt.Fprintf(errb, "nginx: option \"%s\" requires %s\n", a, map[string]string{"-s": "signal name", "-c": "file name", "-p": "prefix path", "-g": "parameters", "-e": "file name"}[a])
				return 1
			}
			i++
			switch a {
			case "-s":
				signal = args[i]
			case "-c":
				conf = args[i]
			}
		default:
			fmt.Fprintf(errb, "nginx: invalid option: \"%s\"\n", strings.TrimPrefix(a, "-"))
			return 1
		}
	}
	if conf == "" {
		conf = l.NginxConfPath()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if test {
		if _, err := l.loadConf(conf); err != nil {
			fmt.Fprintf(errb, "nginx: [emerg] %s\nnginx: configuration file %s test failed\n", err, conf)
			return 1
		}
		if !quiet {
			fmt.Fprintf(errb, "nginx: the configuration file %s syntax is ok\nnginx: configuration file %s test is successful\n", conf, conf)
		}
		if dump {
			data, _ := os.ReadFile(conf)
			fmt.Fprintf(out, "# configuration file %s:\n%s\n", conf, data)
		}
		return 0
	}
	switch signal {
	case "":
		if l.mgr.running {
			fmt.Fprintf(errb, "nginx: [emerg] bind() to %s failed (98: Address already in use)\n", l.Addr)
			return 1
		}
		if err := l.startLocked(conf); err != nil {
			fmt.Fprintf(errb, "nginx: [emerg] %s\n", err)
			return 1
		}
	case "reload":
		if !l.mgr.running {
			fmt.Fprintf(errb, "nginx: [error] invalid PID number \"\" in \"%s\"\n", l.path(filepath.Join(managerDir, "nginx.pid")))
			return 1
		}
		// A reload signal succeeds; a configuration the master rejects is logged and the
		// old one kept, as NGINX does.
		_ = l.reloadLocked(conf)
	case "stop", "quit":
		if !l.mgr.running {
			fmt.Fprintf(errb, "nginx: [error] invalid PID number \"\" in \"%s\"\n", l.path(filepath.Join(managerDir, "nginx.pid")))
			return 1
		}
		l.stopLocked()
	case "reopen":
	default:
		fmt.Fprintf(errb, "nginx: invalid option: \"-s %s\"\n", signal)
		return 1
	}
	return 0
}

// systemctl is systemctl in the lab for the units it has: nginx, nginx-agent and the
// management plane's services (nms*), which are what the endpoint's grpc_pass reaches.
func (l *Lab) systemctl(args []string, out, errb io.Writer) int {
	var words []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			words = append(words, a)
		}
	}
	if len(words) < 2 {
		return 0 // list-units and the like: nothing to say
	}
	verb := words[0]
	l.mu.Lock()
	defer l.mu.Unlock()
	code := 0
	for _, unit := range words[1:] {
		unit = strings.TrimSuffix(unit, ".service")
		var active bool
		switch {
		case unit == "nginx":
			switch verb {
			case "start", "restart", "try-restart", "reload-or-restart":
				if verb == "try-restart" && !l.mgr.running {
					break
				}
				if l.mgr.running {
					l.stopLocked()
				}
				if err := l.startLocked(""); err != nil {
					fmt.Fprintf(errb, "Job for nginx.service failed because the control process exited with error code.\n")
					code = 1
				}
			case "reload":
				if !l.mgr.running {
					fmt.Fprintf(errb, "nginx.service is not active, cannot reload.\n")
					code = 1
					break
				}
				if err := l.reloadLocked(""); err != nil {
					fmt.Fprintf(errb, "Job for nginx.service failed because the control process exited with error code.\n")
					code = 1
				}
			case "stop":
				if l.mgr.running {
					l.stopLocked()
				}
			}
			active = l.mgr.running
		case unit == "nginx-agent":
			active = true
		case unit == upstreamUnit && l.up.kind == upstreamGo:
			// The upstream's Go service.
			switch verb {
			case "start", "restart", "reload-or-restart", "try-restart":
				if verb != "try-restart" || l.upRun.running {
					l.upRun.running = true
				}
			case "stop":
				l.upRun.running = false
			}
			if err := l.syncUpstreamLocked(); err != nil {
				fmt.Fprintf(errb, "Job for %s.service failed: %v\n", unit, err)
				code = 1
			}
			active = l.upRun.running
		case strings.HasPrefix(unit, "nms"):
			switch verb {
			case "start", "restart", "reload-or-restart":
				l.mgr.backendDown = false
			case "stop":
				l.mgr.backendDown = true
			}
			active = !l.mgr.backendDown
		default:
			fmt.Fprintf(errb, "Unit %s.service could not be found.\n", unit)
			code = 4
			continue
		}
		switch verb {
		case "status":
			state := "inactive (dead)"
			if active {
				state = "active (running)"
			}
			fmt.Fprintf(out, "● %s.service\n     Active: %s\n", unit, state)
			if !active {
				code = max(code, 3)
			}
		case "is-active":
			if active {
				fmt.Fprintln(out, "active")
			} else {
				fmt.Fprintln(out, "inactive")
				code = max(code, 3)
			}
		}
	}
	return code
}

// startLocked starts the endpoint (NGINX started) with the configuration in conf.
func (l *Lab) startLocked(conf string) error {
	if err := l.reloadLocked(conf); err != nil {
		return err
	}
	l.mgr.running = true
	if err := l.listenLocked(); err != nil {
		return err
	}
	if err := l.syncUpstreamLocked(); err != nil {
		return err
	}
	return l.syncFrontLocked()
}

// stopLocked stops the endpoint: nothing listens on Addr any more.
func (l *Lab) stopLocked() {
	l.mgr.running = false
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
		// Refuse connections as a stopped NGINX does, and keep the address ours.
		if park, err := parkPort(l.Addr); err == nil {
			l.parked = park
		}
	}
	if l.conns != nil {
		l.conns.closeAll()
	}
	// Re-parking can only fail if another socket took the port.
	_ = l.syncUpstreamLocked()
	_ = l.syncFrontLocked()
}

// RunShim acts as the lab shim named in ShimEnv when it is set: it sends args to the lab
// and prints its answer. It returns the exit code and true, or false when ShimEnv is not
// set and the program should go on as itself.
func RunShim(args []string, stdout, stderr io.Writer) (int, bool) {
	spec := os.Getenv(ShimEnv)
	if spec == "" {
		return 0, false
	}
	f := strings.Fields(spec)
	if len(f) != 3 {
		fmt.Fprintf(stderr, "%s: malformed %s\n", filepath.Base(os.Args[0]), ShimEnv)
		return 127, true
	}
	c, err := net.DialTimeout("tcp", f[0], 5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "%s: the demo lab is not running: %v\n", f[2], err)
		return 127, true
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(controlTimeout))
	data, _ := json.Marshal(shimRequest{Token: f[1], Name: f[2], Args: args})
	if _, err := c.Write(append(data, '\n')); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", f[2], err)
		return 127, true
	}
	line, err := bufio.NewReader(io.LimitReader(c, 4<<20)).ReadBytes('\n')
	var reply shimReply
	if err != nil || json.Unmarshal(line, &reply) != nil {
		fmt.Fprintf(stderr, "%s: no answer from the demo lab\n", f[2])
		return 127, true
	}
	io.WriteString(stdout, reply.Stdout)
	io.WriteString(stderr, reply.Stderr)
	return reply.Code, true
}
