package stepshim

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Where a mesh is administered, kubectl, helm and nginx-meshctl are shims that record
// their command lines. Given a live MeshConfig — a JSON file standing in for the object in
// the cluster — `kubectl patch meshconfig NAME -n NS --type merge -p PATCH` (not a dry run)
// merges the patch into it as the API server does (RFC 7386, JSON Merge Patch), and
// `nginx-meshctl config` prints its spec: the live settings, which name their keys as the
// spec does for every setting a patch step sets (mtls.*, nginxErrorLogLevel).

// liveEnv names the live MeshConfig file when the test binary runs as the shims' helper.
const liveEnv = "STEPSHIM_LIVE_MESHCONFIG"

// NewCluster writes the cluster shims into a sandbox; calls returns what they recorded,
// one command line a line. With live set, the patch and config commands act on that file
// through the test binary, whose TestMain must call RunLive first.
func NewCluster(t testing.TB, live string) (sb *Sandbox, calls func() string) {
	t.Helper()
	sb = New(t, "")
	bin := t.TempDir()
	log := filepath.Join(bin, "calls.log")
	record := "printf '%s' \"$(basename \"$0\")\" >>" + quote(log) + "\nfor a in \"$@\"; do printf ' %s' \"$a\" >>" + quote(log) +
		"; done\necho >>" + quote(log) + "\n"
	shims := map[string]string{"kubectl": record, "helm": record, "nginx-meshctl": record}
	if live != "" {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		helper := liveEnv + "=" + quote(live) + " exec " + quote(self)
		shims["kubectl"] += "[ \"$1 $2\" = 'patch meshconfig' ] || exit 0\nname=$3 ns=default p= prev= dry=\n" +
			"for a in \"$@\"; do\n  case $a in --dry-run*) dry=1;; esac\n  case $prev in -p) p=$a;; -n) ns=$a;; esac\n  prev=$a\ndone\n" +
			"[ -z \"$dry\" ] || exit 0\n" + helper + " patch \"$name\" \"$ns\" \"$p\"\n"
		shims["nginx-meshctl"] += "[ \"$1\" = config ] || exit 0\n" + helper + " spec\n"
	}
	for name, body := range shims {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sb.Path = bin + string(os.PathListSeparator) + sb.Path
	return sb, func() string {
		data, _ := os.ReadFile(log)
		return string(data)
	}
}

// RunLive acts as the cluster shims' helper when the live MeshConfig's environment
// variable is set: "patch NAME NS PATCH" merges PATCH into the MeshConfig, which must be
// NAME in NS as kubectl would find it; "spec" prints its spec as JSON. It returns the exit
// code and true, or false when the variable is not set and the program goes on as itself.
func RunLive(args []string, stdout, stderr io.Writer) (int, bool) {
	live := os.Getenv(liveEnv)
	if live == "" {
		return 0, false
	}
	if err := runLive(live, args, stdout); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1, true
	}
	return 0, true
}

func runLive(live string, args []string, stdout io.Writer) error {
	data, err := os.ReadFile(live)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("%s: %v", live, err)
	}
	switch {
	case len(args) == 1 && args[0] == "spec":
		out, err := json.MarshalIndent(obj["spec"], "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", out)
		return err
	case len(args) == 4 && args[0] == "patch":
		meta, _ := obj["metadata"].(map[string]any)
		if meta["name"] != args[1] || meta["namespace"] != args[2] {
			return fmt.Errorf(`meshconfigs.nsm.nginx.com %q not found in namespace %q`, args[1], args[2])
		}
		var patch any
		if err := json.Unmarshal([]byte(args[3]), &patch); err != nil {
			return fmt.Errorf("unable to parse the patch %q: %v", args[3], err)
		}
		out, err := json.MarshalIndent(MergePatch(obj, patch), "", "  ")
		if err != nil {
			return err
		}
		tmp := live + ".tmp"
		if err := os.WriteFile(tmp, out, 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, live)
	}
	return fmt.Errorf("usage: spec | patch NAME NAMESPACE PATCH (got %q)", args)
}

// MergePatch applies patch to doc as RFC 7386 says: an object patch merges key by key, a
// null removes the key, anything else replaces the target.
func MergePatch(doc, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	d, ok := doc.(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(d, k)
			continue
		}
		d[k] = MergePatch(d[k], v)
	}
	return d
}
