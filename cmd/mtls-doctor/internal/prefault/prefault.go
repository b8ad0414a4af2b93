// Package prefault spares a short run such as `mtls-doctor --check` most of the page
// faults a Go program of this size takes on its way: on a virtual machine that shadows
// its guest's page tables each costs ~20 µs, and a --check took ~1,000 of them.
//
// At its initialisation, early in the program's, it does two things on Linux:
//
//   - It maps the program's code and read-only data into its page tables in one call per
//     mapping (MADV_POPULATE_READ, Linux 5.14), instead of one fault for each 64 KiB the
//     program first runs or reads: the initialisation of ~180 packages, laid out across
//     the whole 7 MiB of text, touches nearly all of it. The pages are the executable
//     file's own, shared through the page cache, so this costs no memory; it is skipped
//     while the file is not (almost) all in the page cache, where it would read the whole
//     binary from disk instead of the parts a run needs.
//   - It backs the Go heap's first megabytes with transparent huge pages (THP). The Go
//     runtime leaves THP to the system's default, on most distributions "madvise": only
//     memory advised MADV_HUGEPAGE gets huge pages (Linux
//     Documentation/admin-guide/mm/transhuge.rst). This package marks the heap's mapped
//     chunks so and collapses the 2 MiB regions already in use into huge pages
//     (MADV_COLLAPSE, Linux 6.1): a region that has 4 KiB pages keeps them at later
//     faults, and the runtime's start has touched the first ones.
//
// Importing it is all it takes. The cost is memory, up to 2 MiB for each heap region
// collapsed or touched later, within the heap's first 16 MiB, and about a millisecond at
// start. It does nothing where it cannot help: other systems, pages larger than 4 KiB,
// kernels without these calls, and GODEBUG=disablethp=1 (Go's own switch for programs
// that want no huge pages), which turns both off.
package prefault
