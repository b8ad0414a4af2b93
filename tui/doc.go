// Package tui is mtls-doctor's interactive troubleshooting assistant: a full-screen Bubble
// Tea program over the same diagnostics engine as --check.
//
// It has five screens, switched with Tab or 1-5: Overview (host facts and the checks by
// category, streaming in as they finish), Finding (summary, why, evidence, fix steps), Fix
// (one step at a time, with copy, re-check and, in the demo lab, apply), Certificates (the
// agent's chain, the served chain and the CA bundle as trees) and Logs (a live follow of the
// NGINX and agent logs). `?` shows every key; `e` writes a Markdown report.
//
// All I/O happens in commands: the engine and the log follow run in goroutines whose
// results arrive as messages, so Update and View never block and Esc can always cancel.
package tui
