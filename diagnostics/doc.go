// Package diagnostics turns facts into findings. It holds the ordered catalog of checks
// (pure functions over Facts, time injected through Facts.Now), the engine that gathers the
// facts each selected check needs and streams results to an observer, and the --check
// renderers (text, json, nagios, prometheus).
//
// Adding a check: write one Check literal in the checks_*.go file of its category, with
// Needs/Wants, Evaluate and Fix for the agent side; Manager for the half that judges the
// NGINX configuration on the manager host; LogKinds naming the logparse kinds whose events
// back it (a new kind is a constant in logparse plus its claim here); LiveVerdict when
// NGINX's verdict on the agent certificate can name it. The engine assembles the halves
// and evidence from those fields (assemble.go); add the check's test beside it.
//
// Every warning and failure names its cause: Warn(…).Because(CauseX), or WithCause with the
// OpenSSL verify error or TLS alert behind it, from the documented codes in cause.go (add
// one there when none fits). A Result about something other than the agent link names its
// Subject (perServer does for NGINX server blocks), and Fix switches on r.Cause and
// r.Subject instead of judging again.
//
// diagnostics does no I/O of its own: facts arrive through a Gatherer, output goes to an
// io.Writer. It imports probes and logparse for their data types only, never a Charm
// library, the tui or cmd.
package diagnostics
