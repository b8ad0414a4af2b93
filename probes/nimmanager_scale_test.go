package probes

import (
	"fmt"
	"strings"
	"testing"
)

// bigNIMConfig is an nginx-manager.conf of n extra keys after the real ones.
func bigNIMConfig(n int) []byte {
	var b strings.Builder
	b.WriteString("bind_address: 0.0.0.0\ngrpc_port: 10443\ncert: /etc/ssl/nginx-manager/nginx-manager.crt\n")
	for i := range n {
		fmt.Fprintf(&b, "extra_key_%d: some value %d\n", i, i)
	}
	return []byte(b.String())
}

// A 440 KB nginx-manager.conf took 6.2 s on go-yaml's quadratic path; it now takes the
// agent configuration's bounded one: refused with the line past the limit, while a file
// within it still parses.
func TestParseNIMManagerConfigBig(t *testing.T) {
	big := bigNIMConfig(16000)
	c := ParseNIMManagerConfig("/etc/nginx-manager/nginx-manager.conf", big)
	if c.Error == nil || !strings.Contains(c.Error.Message, "too many YAML tokens") || c.Error.Line < 1 {
		t.Errorf("%d KB file: error %+v, want too many YAML tokens with a line", len(big)>>10, c.Error)
	}
	c = ParseNIMManagerConfig("/etc/nginx-manager/nginx-manager.conf", bigNIMConfig(2000))
	if c.Error != nil || c.GRPCPort.Value != "10443" || c.Cert.Source.Line != 3 {
		t.Errorf("2,000 keys: %+v, error %+v", c.GRPCPort, c.Error)
	}
}

// BenchmarkParseNIMManagerConfig: the cost per key stays flat up to the token limit
// (2,700 keys and the three real ones are 8,109 tokens).
func BenchmarkParseNIMManagerConfig(b *testing.B) {
	for _, n := range []int{100, 1000, 2700} {
		data := bigNIMConfig(n)
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if c := ParseNIMManagerConfig("/nginx-manager.conf", data); c.Error != nil {
					b.Fatal(c.Error)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
		})
	}
}
