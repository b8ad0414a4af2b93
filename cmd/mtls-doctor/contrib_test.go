package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/demolab"
	"github.com/mtls-doctor/mtls-doctor/internal/stepshim"
)

// TestMain lets the test binary stand in for the mtls-doctor binary in scripts under test
// (contrib/systemd/mtls-doctor-textfile): with MTLS_DOCTOR_TEST_AS_MAIN=1 it runs main; and
// for the demo lab's shims.
func TestMain(m *testing.M) {
	// The demo lab's shims run this binary (TestDemoStepsFix).
	if code, ok := demolab.RunShim(os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	// The cluster shims' live MeshConfig (TestMeshStepsFix).
	if code, ok := stepshim.RunLive(os.Args[1:], os.Stdout, os.Stderr); ok {
		os.Exit(code)
	}
	if os.Getenv("MTLS_DOCTOR_TEST_AS_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestContribRulesMetrics checks that every metric the Prometheus rules use is one the
// prometheus output really writes (a renamed metric would silence an alert for good).
func TestContribRulesMetrics(t *testing.T) {
	rules, err := os.ReadFile("../../contrib/prometheus/mtls-doctor.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runDemo(t, "agent-cert-expired", "--timeout", "2s", "-o", "prometheus")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	written := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(out, -1) {
		written[m[1]] = true
	}
	used := regexp.MustCompile(`mtls_doctor_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) < 5 {
		t.Fatalf("the rules use %d mtls_doctor metrics: %v", len(used), used)
	}
	for _, name := range used {
		if !written[name] {
			t.Errorf("the rules use %s, which --check -o prometheus does not write (it writes %v)", name, written)
		}
	}
}

// TestContribMonitoringFlags parses the command lines of the Nagios and Icinga2 recipes
// with the real flag set: a flag renamed in the tool must not leave them broken.
func TestContribMonitoringFlags(t *testing.T) {
	nagios, err := os.ReadFile("../../contrib/nagios/mtls-doctor.cfg")
	if err != nil {
		t.Fatal(err)
	}
	icinga, err := os.ReadFile("../../contrib/icinga2/mtls-doctor.conf")
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	for _, m := range regexp.MustCompile(`(?m)(?:command_line\s+|command\[check_mtls_doctor\]=(?:/usr/bin/sudo )?)(/usr/bin/mtls-doctor .*)$`).FindAllStringSubmatch(string(nagios), -1) {
		// Nagios macros stand for values.
		lines = append(lines, strings.Fields(regexp.MustCompile(`\$ARG\d+\$`).ReplaceAllString(m[1], "7")))
	}
	icingaArgs := []string{"/usr/bin/mtls-doctor", "--check", "-o", "nagios"}
	for _, m := range regexp.MustCompile(`"(--[a-z-]+)" = \{\s*(value|set_if)`).FindAllStringSubmatch(string(icinga), -1) {
		icingaArgs = append(icingaArgs, m[1])
		if m[2] == "value" {
			icingaArgs = append(icingaArgs, "7")
		}
	}
	if !bytes.Contains(icinga, []byte(`command = [ "/usr/bin/mtls-doctor", "--check", "-o", "nagios" ]`)) {
		t.Error("the Icinga2 CheckCommand does not run --check -o nagios")
	}
	lines = append(lines, icingaArgs)
	if len(lines) < 3 || len(icingaArgs) < 12 {
		t.Fatalf("found %d command lines, icinga arguments %v", len(lines), icingaArgs)
	}
	for _, args := range lines {
		for i := 1; i < len(args); i++ {
			if args[i-1] == "--timeout" && args[i] == "7" {
				args[i] = "10s" // a macro for a duration
			}
		}
		var stdout, stderr bytes.Buffer
		root := newRootCommand(context.Background(), environ{}, &stdout, &stderr)
		if err := root.ParseFlags(args[1:]); err != nil {
			t.Errorf("%q: %v", args, err)
			continue
		}
		if out, _ := root.Flags().GetString("output"); out != "nagios" {
			t.Errorf("%q: output %q, want nagios", args, out)
		}
	}
}

// TestTextfileScript runs contrib/systemd/mtls-doctor-textfile as the timer does: a result
// (exit 2 here: no agent configuration) is published atomically as mtls_doctor.prom, mode
// 0644, with no temporary file left; a run that cannot complete (exit 3) keeps the
// previous file.
func TestTextfileScript(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "textfile_collector")
	script := func(args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", append([]string{"../../contrib/systemd/mtls-doctor-textfile"}, args...)...)
		cmd.Env = append(os.Environ(), "MTLS_DOCTOR_TEST_AS_MAIN=1", "MTLS_DOCTOR="+self, "MTLS_DOCTOR_TEXTFILE_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("the script did not finish: %s", out)
		}
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	missing := filepath.Join(t.TempDir(), "nginx-agent.conf")
	code, out := script("--no-logs", "--agent-config", missing, "--nginx-config", missing+".nginx")
	if code != exitFailure {
		t.Fatalf("exit %d, want 2 (a failing check): %s", code, out)
	}
	prom := filepath.Join(dir, "mtls_doctor.prom")
	first, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(first, []byte("mtls_doctor_status 2\n")) || !bytes.Contains(first, []byte(`mtls_doctor_finding{id="agent-config-missing"`)) {
		t.Errorf("published metrics:\n%s", first)
	}
	if st, _ := os.Stat(prom); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (node_exporter reads it as another user)", st.Mode().Perm())
	}

	code, out = script("--no-such-flag")
	if code != exitCannot || !strings.Contains(out, "left as it was") {
		t.Errorf("exit %d, want 3 and a note: %s", code, out)
	}
	if again, _ := os.ReadFile(prom); !bytes.Equal(again, first) {
		t.Error("a run that could not complete replaced the published metrics")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the collector directory: %v", entries)
	}
}
