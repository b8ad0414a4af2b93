package playbook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

func TestCommandsQuotesValuesForWhereTheyStand(t *testing.T) {
	st := diagnostics.Step{
		Commands: []string{
			`openssl x509 -CAkey <ca-key-path> -in x`,
			`cat '<ca-key-path>' >/dev/null`,
			`echo "key: <ca-key-path>"`,
			`echo <ca-key-path-2>`,
		},
		Inputs: []diagnostics.Input{{Name: "<ca-key-path>"}, {Name: "<ca-key-path-2>"}},
	}
	env := Env{Inputs: map[string]string{"<ca-key-path>": "/k/it's $x.key", "<ca-key-path-2>": "plain"}}
	got, err := Commands(st, env)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`openssl x509 -CAkey '/k/it'\''s $x.key' -in x`,
		`cat '/k/it'\''s $x.key' >/dev/null`,
		`echo "key: /k/it's \$x.key"`,
		`echo plain`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Commands:\n got %q\nwant %q", got, want)
	}
	// What sh makes of them is the value itself.
	for i, c := range got[:3] {
		if i == 1 {
			continue // cat of a missing file
		}
		res, err := Run(context.Background(), diagnostics.Step{Commands: []string{strings.Replace(c, "openssl x509 -CAkey", "printf %s", 1)}}, Env{Dir: t.TempDir()})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !strings.Contains(res[0].Output, "/k/it's $x.key") {
			t.Errorf("%s printed %q", c, res[0].Output)
		}
	}
}

func TestCommandsRefusesUnfilledPlaceholder(t *testing.T) {
	st := diagnostics.Step{Commands: []string{"openssl x509 -CAkey <ca-key-path>"}, Inputs: []diagnostics.Input{{Name: "<ca-key-path>", Prompt: "the CA's key"}}}
	if _, err := Commands(st, Env{}); !errors.Is(err, ErrUnfilled) || !strings.Contains(err.Error(), "<ca-key-path>") {
		t.Fatalf("Commands without the input: %v, want ErrUnfilled naming it", err)
	}
	if got := Unfilled(st, Env{}); !slices.Equal(got, []string{"<ca-key-path>"}) {
		t.Fatalf("Unfilled = %q", got)
	}
	if _, err := Run(context.Background(), st, Env{}); !errors.Is(err, ErrUnfilled) {
		t.Fatalf("Run without the input: %v", err)
	}
	// A placeholder the step did not declare is refused too.
	if _, err := Commands(diagnostics.Step{Commands: []string{"cat '<agents-ca-path>' >>x"}}, Env{}); !errors.Is(err, ErrUnfilled) || !strings.HasSuffix(err.Error(), ": <agents-ca-path>") {
		t.Fatalf("undeclared placeholder: %v", err)
	}
}

func TestRunUsesPOSIXShAndCleansOutput(t *testing.T) {
	dir := t.TempDir()
	key := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
	if err := os.WriteFile(filepath.Join(dir, "k.pem"), []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	st := diagnostics.Step{Commands: []string{"cat k.pem; printf 'pw=%s\\033[2J\\n' <password>"}, Inputs: []diagnostics.Input{{Name: "<password>"}}}
	res, err := Run(context.Background(), st, Env{Dir: dir, Inputs: map[string]string{"<password>": "hunter2"}})
	if err != nil {
		t.Fatal(err)
	}
	out := res[0].Output
	for _, bad := range []string{"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "hunter2", "\x1b"} {
		if strings.Contains(out, bad) {
			t.Errorf("output shows %q: %q", bad, out)
		}
	}
	// bash-only syntax fails under sh (dash on Debian): the step is run as shown to a POSIX shell.
	if _, err := Run(context.Background(), diagnostics.Step{Commands: []string{"[[ 1 == 1 ]] && cat <(printf x)"}}, Env{Dir: dir}); err == nil && shIsDash() {
		t.Error("bash-only syntax ran under /bin/sh")
	}
}

func shIsDash() bool {
	p, err := filepath.EvalSymlinks("/bin/sh")
	return err == nil && strings.Contains(p, "dash")
}

func TestRunStopsAtFirstFailureAndHonoursContext(t *testing.T) {
	dir := t.TempDir()
	res, err := Run(context.Background(), diagnostics.Step{Commands: []string{"true", "exit 3", "touch never"}}, Env{Dir: dir})
	if err == nil || len(res) != 2 {
		t.Fatalf("Run = %d results, %v; want 2 and an error", len(res), err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "never")); serr == nil {
		t.Error("the command after the failing one ran")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Run(ctx, diagnostics.Step{Commands: []string{"sleep 30 | cat"}}, Env{Dir: dir}); err == nil {
		t.Fatal("a command past the deadline succeeded")
	}
	if _, err := Run(context.Background(), diagnostics.Step{Manual: "needs a person", Commands: []string{"true"}}, Env{}); !errors.Is(err, ErrManual) {
		t.Fatalf("manual step: %v", err)
	}
	for _, c := range []string{"sudo vi +3 /etc/x", "sudoedit /etc/x", "sudo -e /etc/x", "true && nano x", "journalctl -u x | less"} {
		if _, err := Run(context.Background(), diagnostics.Step{Commands: []string{"true", c}}, Env{Dir: dir}); !errors.Is(err, ErrManual) {
			t.Errorf("%q: %v, want ErrManual before anything runs", c, err)
		}
	}
}

func TestWrittenFiles(t *testing.T) {
	got := WrittenFiles([]string{
		`cat a.crt b.crt | sudo tee '/etc/nms/my certs/server.pem' >/dev/null`,
		`printf 'x\n' >agent-ext.cnf 2>&1`,
		`sudo install -m 0644 agent.crt /etc/nginx-agent/agent.crt`,
		`sudo cp -p /x/ca.pem /x/ca.pem.bak`,
		`sudo sed -i 's/a/b/' /etc/nginx-agent/nginx-agent.conf`,
		`openssl req -new -key k -out /tmp/x.csr`,
		`echo $HOME >"$HOME/x"`,
		`nginx -t 2>/dev/null`,
	}, "/work")
	want := []string{"/etc/nms/my certs/server.pem", "/work/agent-ext.cnf", "/etc/nginx-agent/agent.crt",
		"/x/ca.pem.bak", "/etc/nginx-agent/nginx-agent.conf", "/tmp/x.csr"}
	if !slices.Equal(got, want) {
		t.Fatalf("WrittenFiles:\n got %q\nwant %q", got, want)
	}
}

func TestReloadsNginx(t *testing.T) {
	for cmd, want := range map[string]bool{
		"sudo nginx -t -c /e/n.conf && sudo nginx -s reload -c /e/n.conf": true,
		"sudo systemctl reload nginx":                                     true,
		"systemctl restart nginx.service":                                 true,
		"sudo systemctl restart nginx-agent":                              false,
		"nginx -T | grep listen":                                          false,
		"echo 'nginx -s reload'":                                          false,
	} {
		if got := ReloadsNginx(cmd); got != want {
			t.Errorf("ReloadsNginx(%q) = %v, want %v", cmd, got, want)
		}
	}
	if !Restarts("sudo systemctl restart nginx-agent") {
		t.Error("Restarts(systemctl restart nginx-agent) = false")
	}
}

// fakeNginx puts an nginx on PATH whose -t fails when the file it tests holds "bad", and
// whose -s reload records the reload.
func fakeNginx(t *testing.T, conf string) (Env, string) {
	t.Helper()
	bin := t.TempDir()
	reloads := filepath.Join(bin, "reloads")
	script := "#!/bin/sh\ncase \"$1\" in\n-t) if grep -q bad " + diagnostics.ShellQuote(conf) + "; then echo 'nginx: [emerg] unknown directive \"bad\"' >&2; exit 1; fi;;\n-s) echo reload >>" + diagnostics.ShellQuote(reloads) + ";;\nesac\n"
	if err := os.WriteFile(filepath.Join(bin, "nginx"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return Env{Dir: t.TempDir(), Path: []string{bin}}, reloads
}

func TestApplyRollsBackWhenNginxTestFails(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	orig := []byte("events {}\n")
	if err := os.WriteFile(conf, orig, 0o640); err != nil {
		t.Fatal(err)
	}
	env, reloads := fakeNginx(t, conf)
	a := &Applier{Env: env, JournalRoot: filepath.Join(dir, "journal")}
	st := diagnostics.Step{Title: "break it", Commands: []string{
		"printf 'bad;\\n' >>" + diagnostics.ShellQuote(conf),
		"printf 'new\\n' >new-file",
		"nginx -s reload",
	}}
	out, err := a.Apply(context.Background(), st, "x", nil, nil)
	if !errors.Is(err, ErrNginxTest) || !out.RolledBack {
		t.Fatalf("Apply = %+v, %v; want a rollback on ErrNginxTest", out, err)
	}
	if got, _ := os.ReadFile(conf); string(got) != string(orig) {
		t.Errorf("nginx.conf after rollback = %q, want %q", got, orig)
	}
	if fi, _ := os.Stat(conf); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after rollback = %v", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(env.Dir, "new-file")); err == nil {
		t.Error("a file the step created survived the rollback")
	}
	if _, err := os.Stat(reloads); err == nil {
		t.Error("NGINX was reloaded although nginx -t failed")
	}
	if _, err := Undo(a.JournalRoot); !errors.Is(err, ErrNothingToUndo) {
		t.Errorf("Undo after a rollback: %v, want ErrNothingToUndo", err)
	}
}

func TestApplyRollsBackWhenWorseAndUndoRestores(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, reloads := fakeNginx(t, conf)
	a := &Applier{Env: env, JournalRoot: filepath.Join(dir, "journal")}
	st := diagnostics.Step{Title: "edit", Changes: []string{conf}, Verify: []string{"fixed"},
		Commands: []string{"printf 'v2\\n' >" + diagnostics.ShellQuote(conf), "nginx -s reload"}}
	before := Verdict{"fixed": diagnostics.SeverityFail, "other": diagnostics.SeverityOK, "behind": diagnostics.SeveritySkip}
	out, err := a.Apply(context.Background(), st, "fixed", before, func(context.Context) (Verdict, error) {
		return Verdict{"fixed": diagnostics.SeverityOK, "other": diagnostics.SeverityFail}, nil
	})
	if !errors.Is(err, ErrWorse) || !out.RolledBack || !slices.Equal(out.Worse, []string{"other"}) {
		t.Fatalf("Apply = %+v, %v; want ErrWorse naming other", out, err)
	}
	if got, _ := os.ReadFile(conf); string(got) != "v1\n" {
		t.Fatalf("after rollback nginx.conf = %q", got)
	}
	if data, _ := os.ReadFile(reloads); strings.Count(string(data), "reload") != 2 {
		t.Errorf("reloads = %q; want the step's and the rollback's", data)
	}

	// A check that could not run before and fails now was revealed, not made worse.
	out, err = a.Apply(context.Background(), st, "fixed", before, func(context.Context) (Verdict, error) {
		return Verdict{"fixed": diagnostics.SeverityOK, "other": diagnostics.SeverityOK, "behind": diagnostics.SeverityFail, "new": diagnostics.SeverityFail}, nil
	})
	if err != nil || out.Verified || out.RolledBack || !slices.Equal(out.New, []string{"behind", "new"}) {
		t.Fatalf("Apply = %+v, %v; want kept, not verified, behind and new failing", out, err)
	}
	if got, _ := os.ReadFile(conf); string(got) != "v2\n" {
		t.Fatalf("after apply nginx.conf = %q", got)
	}
	if _, err := Undo(a.JournalRoot); err != nil {
		t.Fatal(err)
	}
	out, err = a.Apply(context.Background(), st, "fixed", before, func(context.Context) (Verdict, error) {
		return Verdict{"fixed": diagnostics.SeverityOK, "other": diagnostics.SeverityOK}, nil
	})
	if err != nil || !out.Verified || out.RolledBack {
		t.Fatalf("Apply = %+v, %v; want verified", out, err)
	}
	j, err := Undo(a.JournalRoot)
	if err != nil || j.Title != "edit" {
		t.Fatalf("Undo = %+v, %v", j, err)
	}
	if got, _ := os.ReadFile(conf); string(got) != "v1\n" {
		t.Fatalf("after undo nginx.conf = %q", got)
	}
	if _, err := Undo(a.JournalRoot); !errors.Is(err, ErrNothingToUndo) {
		t.Fatalf("second Undo: %v", err)
	}
}

func TestApplyConfined(t *testing.T) {
	dir := t.TempDir()
	a := &Applier{Env: Env{Dir: dir}, JournalRoot: filepath.Join(dir, "journal"), Confine: dir}
	for _, st := range []diagnostics.Step{
		{Commands: []string{"touch ran", "sudo mkdir -p /etc/nginx-agent"}},
		{Commands: []string{"touch ran", "printf x | sudo tee -a /etc/nginx/nginx.conf >/dev/null"}},
		{Commands: []string{"touch ran"}, Changes: []string{"/etc/nginx-agent/nginx-agent.conf"}},
		{Commands: []string{"touch ran", "sudo sed -i s/a/b/ ../escape.conf"}},
	} {
		if _, err := a.Apply(context.Background(), st, "", nil, nil); !errors.Is(err, ErrOutside) {
			t.Errorf("Apply(%q) = %v, want ErrOutside", st.Commands, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Fatal("a command of a step outside the confinement ran")
	}
	if _, err := a.Apply(context.Background(), diagnostics.Step{Commands: []string{"touch ran", "mkdir -p sub"}}, "", nil, nil); err != nil {
		t.Fatalf("a step inside the confinement: %v", err)
	}
}

func TestApplyRefusesWhatItCannotBackUp(t *testing.T) {
	dir := t.TempDir()
	a := &Applier{Env: Env{Dir: dir}, JournalRoot: filepath.Join(dir, "journal")}
	st := diagnostics.Step{Commands: []string{"touch ran"}, Changes: []string{dir}} // a directory
	if _, err := a.Apply(context.Background(), st, "", nil, nil); err == nil {
		t.Fatal("Apply ran a step whose changes could not be backed up")
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Fatal("the command ran")
	}
}

func TestUndoPartial(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "sub", "f")
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := filepath.Join(dir, "g")
	if err := os.WriteFile(g, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := &Applier{Env: Env{Dir: dir}, JournalRoot: filepath.Join(dir, "journal")}
	if _, err := a.Apply(context.Background(), diagnostics.Step{Commands: []string{"echo b >sub/f", "echo b >g"}}, "", nil, nil); err != nil {
		t.Fatal(err)
	}
	// The directory is gone: f cannot be put back, g can.
	if err := os.RemoveAll(filepath.Dir(f)); err != nil {
		t.Fatal(err)
	}
	_, err := Undo(a.JournalRoot)
	var pe *PartialError
	if !errors.As(err, &pe) || !slices.Equal(pe.Failed, []string{f}) || !slices.Equal(pe.Restored, []string{g}) {
		t.Fatalf("Undo = %v; want a partial restore", err)
	}
}

func FuzzWords(f *testing.F) {
	for _, s := range []string{
		`cat a | sudo tee -a '/x y' >/dev/null`, `printf "a\"b" 2>&1 >>f`, `x='unterminated`, `a\`, `sudo -u nginx cp a b`,
		`openssl req -out`, `echo <ca-key-path> "<ca-key-path>" '<ca-key-path>'`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		for _, p := range WrittenFiles([]string{cmd}, "/w") {
			if !filepath.IsAbs(p) {
				t.Fatalf("relative path %q from %q", p, cmd)
			}
		}
		ReloadsNginx(cmd)
		s, _ := substitute(cmd, []string{"<ca-key-path>"}, map[string]string{"<ca-key-path>": "v"})
		if !strings.Contains(cmd, "<ca-key-path>") && s != cmd {
			t.Fatalf("substitute changed %q into %q", cmd, s)
		}
	})
}
