// Package tui is mtls-doctor's interactive troubleshooting assistant: a full-screen Bubble
// Tea program over the same diagnostics engine as --check.
//
// It has five screens, switched with Tab, ←/→ (h/l) or 1-5: Overview (the problems, then
// the checks by category, streaming in as they finish, under the host facts), Finding
// (summary, why, evidence, fix steps), Fix (one step at a time, with copy, re-check and, in
// the demo lab, apply), Certificates (the agent's chain, the served chain and the CA bundle
// as trees) and Logs (a live follow of the NGINX and agent logs). The keys follow k9s and
// lnav (/ filters a list, n/N between matches, esc clears then goes back); the footer always
// shows ? help and q quit; `e` writes a Markdown report. Everything fits 80x24.
//
// Each screen is a page (page.go) after soft-serve's components: it owns its state, size,
// keys, body and footer keys; the Model holds the list and what pages share (findings,
// facts, the selected finding). engine.go runs the checks, frame.go draws the header, tabs
// and footer around the current page.
//
// All I/O happens in commands: the engine and the log follow run in goroutines whose
// results arrive as messages, so Update and View never block and Esc can always cancel.
package tui
