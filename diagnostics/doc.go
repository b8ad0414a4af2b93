// Package diagnostics turns facts into findings. It holds the ordered catalog of checks
// (pure functions over Facts, time injected through Facts.Now), the engine that gathers the
// facts each selected check needs and streams results to an observer, and the --check
// renderers (text, json, nagios, prometheus).
//
// diagnostics does no I/O of its own: facts arrive through a Gatherer, output goes to an
// io.Writer. It imports probes and logparse for their data types only, never a Charm
// library, the tui or cmd.
package diagnostics
