// Package nginxtest runs a real NGINX on the loopback interface for tests and benchmarks.
//
// A lab NGINX lives entirely inside one directory: its configuration, pid file, error and
// access logs and every temp path (client body, proxy, fastcgi, uwsgi, scgi) are written
// under that directory, it is started with `-p DIR -c DIR/nginx.conf -e DIR/error.log` so
// not even the early start-up log goes to the packaged path, and it listens only on
// 127.0.0.1 ports chosen by FreePort. It never reads or writes /etc/nginx or
// /var/log/nginx and never binds port 80.
//
// The usual test looks like:
//
//	bin := nginxtest.Require(t) // skips (or fails under CI=true) without nginx
//	dir := t.TempDir()
//	backend := nginxtest.StartBackend(t)
//	srv := nginxtest.Server{Port: nginxtest.FreePort(t), SSL: true, HTTP2: true,
//		Cert: certPath, Key: keyPath, ClientCA: caPath, VerifyClient: "on",
//		Backend: backend.Addr()}
//	inst := nginxtest.Start(t, dir, nginxtest.Config{Dir: dir, ServerBlock: srv.Block()}.String())
//	// ... dial inst.Addr(), then read inst.ErrorLog() ...
//
// Start registers a cleanup that stops NGINX (SIGQUIT, then SIGKILL after a grace period).
// Launch and ListenBackend are the same without testing.TB, for programs such as the
// benchmark helper under bench/.
//
// The Backend is the management plane's gRPC service stand-in for `grpc_pass`: a plaintext
// HTTP/2 (h2c) server that answers every POST with 200, content-type application/grpc and
// the trailer grpc-status 0, so a probe that gets through NGINX sees a healthy gRPC answer.
//
// Debian's nginx is 1.22, so the generated configuration uses `listen ... ssl http2;`
// rather than the `http2 on;` directive of 1.25.1 and later.
package nginxtest
