//go:build !linux || !(amd64 || arm64)

package hugeheap

// Advise does nothing here: transparent huge pages are a Linux feature.
func Advise() int { return 0 }
