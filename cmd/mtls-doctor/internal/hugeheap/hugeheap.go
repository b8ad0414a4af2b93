// Package hugeheap asks Linux to back the Go heap's first megabytes with transparent
// huge pages (THP), so that a short run such as `mtls-doctor --check` does not pay one
// page fault for each 4 KiB page of heap and goroutine stack it touches for the first
// time.
//
// A --check touches about 3 MiB of heap, most of it after main starts: ~250 page faults,
// on a virtual machine that shadows its guest's page tables ~20 µs each. The Go runtime
// leaves THP to the system's default, on most distributions "madvise": only memory
// advised MADV_HUGEPAGE gets huge pages (Linux Documentation/admin-guide/mm/transhuge.rst).
// At its initialisation, early in the program's, this package marks the heap's mapped
// chunks so, and collapses the 2 MiB regions already in use into huge pages
// (MADV_COLLAPSE, Linux 6.1): a region that has 4 KiB pages keeps them at later faults,
// and the runtime's start has touched the first ones. Importing it is all it takes.
//
// The cost is memory, up to 2 MiB for each region collapsed or touched later, within the
// heap's first 16 MiB, and under a millisecond for the collapses. It does nothing where
// it cannot help: other systems, pages larger than 4 KiB, kernels without THP or
// MADV_COLLAPSE, and GODEBUG=disablethp=1 (Go's own switch for programs that want no
// huge pages in their heap).
package hugeheap
