package tmuxquiet

import (
	"os"
	"testing"
)

// Restore gives TMUX back its value from before init, once.
func TestRestore(t *testing.T) {
	t.Setenv("TMUX", "")
	os.Unsetenv("TMUX")
	saved, hidden = "/tmp/tmux-0/default,42,0", true
	Restore()
	if v, ok := os.LookupEnv("TMUX"); !ok || v != "/tmp/tmux-0/default,42,0" {
		t.Errorf("TMUX after Restore = %q, %v", v, ok)
	}
	os.Setenv("TMUX", "changed since")
	Restore()
	if v := os.Getenv("TMUX"); v != "changed since" {
		t.Errorf("a second Restore overwrote TMUX with %q", v)
	}
}
