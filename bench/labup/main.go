// Command labup runs a healthy mTLS management-plane endpoint for bench/check.sh: a real
// NGINX on 127.0.0.1 (internal/nginxtest) with `ssl_verify_client on`, HTTP/2 and the agent's
// gRPC locations proxied to an in-process h2c gRPC backend, plus an Agent v2
// nginx-agent.conf that points at it.
//
// It takes certificates made beforehand (bench/check.sh makes them with openssl), writes
// DIR/lab.env (PORT, ADDR, AGENT_CONFIG) once NGINX accepts, and runs until SIGINT or
// SIGTERM, stdin closing, or -max, whichever comes first; then it stops NGINX and the
// backend.
//
//	go run ./bench/labup -dir DIR -server-cert S -server-key K -client-ca CA \
//	    -agent-cert A -agent-key AK -agent-ca ACA -server-name nim.test.local
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/nginxtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "labup: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		dir        = flag.String("dir", "", "lab directory (nginx prefix, logs, lab.env, agent config)")
		serverCert = flag.String("server-cert", "", "ssl_certificate (server leaf plus intermediates)")
		serverKey  = flag.String("server-key", "", "ssl_certificate_key")
		clientCA   = flag.String("client-ca", "", "ssl_client_certificate")
		agentCert  = flag.String("agent-cert", "", "agent tls.cert")
		agentKey   = flag.String("agent-key", "", "agent tls.key")
		agentCA    = flag.String("agent-ca", "", "agent tls.ca")
		serverName = flag.String("server-name", "nim.test.local", "server_name and the agent's server.command")
		maxLife    = flag.Duration("max", 10*time.Minute, "stop after this long whatever happens")
		watchStdin = flag.Bool("stdin", false, "also stop when stdin closes")
	)
	flag.Parse()
	if *dir == "" || *serverCert == "" || *serverKey == "" || *clientCA == "" {
		return fmt.Errorf("-dir, -server-cert, -server-key and -client-ca are required")
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}

	backend, err := nginxtest.ListenBackend()
	if err != nil {
		return fmt.Errorf("backend: %w", err)
	}
	defer backend.Close()

	port, err := freePort()
	if err != nil {
		return err
	}
	srv := nginxtest.Server{Port: port, SSL: true, HTTP2: true, ServerName: *serverName,
		Cert: *serverCert, Key: *serverKey, ClientCA: *clientCA, VerifyClient: "on",
		Backend: backend.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), nginxtest.StartTimeout)
	defer cancel()
	inst, err := nginxtest.Launch(ctx, abs, nginxtest.Config{Dir: abs, ServerBlock: srv.Block()}.String())
	if err != nil {
		return err
	}
	defer inst.Stop()

	agentConf := filepath.Join(abs, "nginx-agent.conf")
	conf := fmt.Sprintf(`server:
  host: 127.0.0.1
  grpcPort: %d
  command: %s
  metrics: %s
tls:
  enable: true
  cert: %s
  key: %s
  ca: %s
  skip_verify: false
`, port, *serverName, *serverName, *agentCert, *agentKey, *agentCA)
	if err := os.WriteFile(agentConf, []byte(conf), 0o644); err != nil {
		return err
	}
	env := fmt.Sprintf("PORT=%d\nADDR=%s\nAGENT_CONFIG=%s\nERROR_LOG=%s\n",
		port, inst.Addr(), agentConf, inst.ErrorLogPath())
	tmp := filepath.Join(abs, "lab.env.tmp")
	if err := os.WriteFile(tmp, []byte(env), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(abs, "lab.env")); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "labup: nginx on %s, backend %s\n", inst.Addr(), backend.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	stdinClosed := make(chan struct{})
	if *watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stdinClosed)
		}()
	}
	select {
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "labup: %v, stopping\n", s)
	case <-stdinClosed:
		fmt.Fprintln(os.Stderr, "labup: stdin closed, stopping")
	case <-time.After(*maxLife):
		fmt.Fprintf(os.Stderr, "labup: -max %s reached, stopping\n", *maxLife)
	}
	fmt.Fprintf(os.Stderr, "labup: backend answered %d requests\n", backend.Requests())
	return nil
}

// freePort returns a 127.0.0.1 port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
