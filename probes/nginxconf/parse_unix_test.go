//go:build unix

package nginxconf

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadEndless: a main file (or include) too large to be a configuration is read only
// up to the parse budget. os.ReadFile read /dev/zero until the OOM killer ended
// mtls-doctor (devices are now refused, see TestLoadFIFO); a sparse 64 MiB file of zero
// bytes stands in for it.
func TestLoadEndless(t *testing.T) {
	big := filepath.Join(t.TempDir(), "nginx.conf")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfg, err := Load(big, Options{})
	if err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("Load(endless) = %v, %v; want an error naming the 16 MiB limit", cfg, err)
	}
}

// TestLoadFIFO: a FIFO as the main file or as an include is refused at once, with the
// message the agent configuration's reader gives, instead of waiting for a writer for ever.
func TestLoadFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(main, []byte("events {}\nhttp { include "+fifo+"; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, main} {
		done := make(chan error, 1)
		go func() {
			cfg, err := Load(path, Options{})
			if err == nil && cfg != nil {
				for _, e := range cfg.Errors {
					err = e
				}
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("Load(%s): %v, want 'not a regular file'", path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) blocked on the FIFO", path)
		}
	}
}
