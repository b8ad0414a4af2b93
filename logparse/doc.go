// Package logparse turns NGINX and NGINX Agent log lines into facts: typed entries, then
// events classified by the finding they support, then a summary of a time window.
//
// It owns:
//   - line parsers that never panic on any input (invalid UTF-8, 1 MB lines, truncated
//     lines): the NGINX error log (ParseErrorLine), NGINX access logs in any log_format
//     (CompileFormat, with Combined, MainExt and GRPCJSON predefined), and the agent's
//     v2 logrus text and v3 slog text and JSON lines (ParseAgentLine);
//   - a classifier (Classify) that maps the mTLS-relevant lines to event kinds named after
//     the diagnostics finding IDs they back ("agent-cert-expired", ...), keeping the
//     X509 code and text; every other line is counted as unclassified, never guessed at;
//   - a history scan (Scan) over a live log and its rotated siblings (.1, .2.gz, ...)
//     that reads from the end of each file in fixed-size chunks, so memory stays bounded
//     whatever the file size, and aggregates a Summary per event kind. It keeps pace
//     with grep: an access line is read only as far as its time and status when they
//     rule an event out (Format.scanLine), an error line's classification is remembered
//     for the next line with the same text, and nothing is allocated per line;
//   - Follow, which streams the lines appended to a file across rotation with a small
//     poller of its own, and says when the file was rotated, truncated or removed.
//
// Time is always injected (Options.Now, the Location of zone-less timestamps); nothing
// here reads the clock on its own except Follow, which stamps nothing.
//
// The package imports only the standard library and internal/regularfile (opening logs
// without blocking on a FIFO), nothing else of ours: discovery of which files to read
// (from the NGINX and agent configuration) lives with the callers.
package logparse
