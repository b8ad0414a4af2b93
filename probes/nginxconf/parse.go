package nginxconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/mtls-doctor/mtls-doctor/internal/regularfile"
)

// Options tell the parser what nginx's command line and build would.
type Options struct {
	// Prefix is nginx's -p prefix (mtls-doctor's --nginx-prefix), against which
	// relative log and pid paths resolve. Empty means the conf prefix, which is right
	// for nginx.org and NGINX Plus packages (--prefix=/etc/nginx); Debian's package is
	// built with --prefix=/usr/share/nginx (see Build).
	Prefix string
	// ErrorLogPath is the compiled-in error log used when the main context has no
	// error_log (--error-log-path). Default /var/log/nginx/error.log (nginx.org
	// packages; Debian compiles in "stderr").
	ErrorLogPath string
	// AccessLogPath is the compiled-in access log used when no access_log applies
	// (--http-log-path). Default /var/log/nginx/access.log.
	AccessLogPath string
}

const (
	defaultErrorLogPath  = "/var/log/nginx/error.log"
	defaultAccessLogPath = "/var/log/nginx/access.log"

	// maxFileParses bounds include expansion: files including each other twice over
	// would otherwise expand exponentially (nginx itself would do the same).
	maxFileParses = 4096
	// maxParsedBytes bounds the bytes parsed in all, counting a file once per inclusion.
	maxParsedBytes = 16 << 20
	// maxDumpSize bounds what ParseDump reads.
	maxDumpSize = 64 << 20
)

// DefaultPaths returns where the main NGINX configuration is looked for, in order.
func DefaultPaths() []string {
	return []string{"/etc/nginx/nginx.conf", "/usr/local/nginx/conf/nginx.conf", "/usr/local/etc/nginx/nginx.conf"}
}

// NIMFiles returns the files NGINX Instance Manager 2.x installs into the NGINX
// configuration: the server block agents connect to and the error-mapping snippets
// it includes. They are not main files; discovery can check that the main
// configuration includes them.
func NIMFiles() []string {
	return []string{
		"/etc/nginx/conf.d/nms-http.conf",
		"/etc/nms/nginx/errors-grpc.loc_conf",
		"/etc/nms/nginx/errors-grpc.server_conf",
		"/etc/nms/nginx/errors.http_conf",
	}
}

// Load reads the configuration whose main file is path, following includes as nginx
// does. It returns a Config whenever the main file could be read, even when the
// configuration has syntax errors; err is then the first of Config.Errors, which is
// what `nginx -t` would report.
func Load(path string, opts Options) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	src := fsSource{}
	data, err := src.read(abs)
	if err != nil {
		return nil, Error{Msg: err.Error()}
	}
	return parseMain(abs, data, src, opts)
}

// Parse parses one configuration held in memory as if it were the file name.
// Includes are read from the file system.
func Parse(name string, data []byte, opts Options) (*Config, error) {
	return parseMain(name, data, fsSource{}, opts)
}

// ParseDump parses the output of `nginx -T`: every file the configuration read, each
// introduced by a line "# configuration file PATH:". Positions point into the
// original files. Text before the first such line (nginx's "syntax is ok" lines
// when stderr was captured too) is ignored.
func ParseDump(r io.Reader) (*Config, error) { return ParseDumpWith(r, Options{}) }

// ParseDumpWith is ParseDump with Options.
func ParseDumpWith(r io.Reader, opts Options) (*Config, error) {
	data, err := ReadDump(r)
	if err != nil {
		return nil, err
	}
	return ParseDumpBytes(data, opts)
}

// ParseDumpBytes is ParseDumpWith over output already in memory; data is not copied,
// and must not change while the Config is in use.
func ParseDumpBytes(data []byte, opts Options) (*Config, error) {
	if len(data) > maxDumpSize {
		return nil, tooBigDump
	}
	src, order := splitDump(data)
	if len(order) == 0 {
		return nil, errors.New(`not nginx -T output: no "# configuration file PATH:" line`)
	}
	return parseMain(order[0], src[order[0]], src, opts)
}

// tooBigDump refuses `nginx -T` output over maxDumpSize.
var tooBigDump = Error{Msg: fmt.Sprintf("nginx -T output is larger than %d MiB", maxDumpSize>>20)}

// readDumpError words a failed read; an Error is ReadDump's own verdict, passed on by a
// reader that replays it (a re-run over standard input read once).
func readDumpError(err error) error {
	var own Error
	if errors.As(err, &own) {
		return err
	}
	return fmt.Errorf("read nginx -T output: %w", err)
}

// dumpHeadSize is how far into its input `nginx -T` output names its first file: its
// "syntax is ok" lines (when stderr was captured too) come before. Input without such
// a line there is refused before more is read.
const dumpHeadSize = 64 << 10

// ReadDump reads `nginx -T` output into memory, at most 64 MiB: the input must name its
// first file in its first 64 KiB, so /dev/zero or a log piped by mistake is refused
// after 64 KiB. It holds the output once (no doubling buffer), and a *bytes.Buffer is
// taken as it is, without a copy. A regular file (standard input redirected from one)
// is read into one buffer of its size; a pipe in chunks, joined at the end.
func ReadDump(r io.Reader) ([]byte, error) {
	if b, ok := r.(*bytes.Buffer); ok {
		data := b.Bytes()
		if len(data) > maxDumpSize {
			return nil, tooBigDump
		}
		return data, nil
	}
	// One byte past the expected size, so that reaching the end needs no other buffer.
	first := make([]byte, max(dumpHeadSize, remainingSize(r)+1))
	n, err := io.ReadFull(r, first[:dumpHeadSize])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return first[:n], nil // all of it; ParseDumpBytes says what it lacks
	case err != nil:
		return nil, readDumpError(err)
	case !IsDump(first[:n]):
		return nil, Error{Msg: fmt.Sprintf(`not nginx -T output: no "# configuration file PATH:" line in its first %d KiB`, dumpHeadSize>>10)}
	}
	k, err := io.ReadFull(r, first[n:])
	total := n + k
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return first[:total], nil
	case err != nil:
		return nil, readDumpError(err)
	}
	chunks := [][]byte{first} // more than the size said (or no size): read on in chunks
	for {
		chunk := make([]byte, min(4<<20, maxDumpSize+1-total))
		n, err := io.ReadFull(r, chunk)
		chunks, total = append(chunks, chunk[:n]), total+n
		if total > maxDumpSize {
			return nil, tooBigDump
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return bytes.Join(chunks, nil), nil
		}
		if err != nil {
			return nil, readDumpError(err)
		}
	}
}

// remainingSize is how many bytes r, when it is a regular file, holds from its offset
// on: 0 when unknown (a pipe, a terminal, any other reader) or past maxDumpSize, which
// the chunked read refuses after reading no more than the limit.
func remainingSize(r io.Reader) int {
	f, ok := r.(interface {
		Stat() (fs.FileInfo, error)
		Seek(offset int64, whence int) (int64, error)
	})
	if !ok {
		return 0
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return 0
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || off > st.Size() || st.Size()-off > maxDumpSize {
		return 0
	}
	return int(st.Size() - off)
}

// dumpHeaderPrefix starts the line nginx -T writes before each file:
// "# configuration file PATH:" (ngx_conf_flush_files, src/core/ngx_conf_file.c).
const dumpHeaderPrefix = "# configuration file "

// dumpHeader is one header line of `nginx -T` output: data[start:end] is the line
// without its LF, data[name:nameEnd] the path.
type dumpHeader struct{ start, end, name, nameEnd int }

// nextDumpHeader finds the first header line at or after from: a line that starts with
// dumpHeaderPrefix and ends with ":" (then an optional CR), naming a path of at least one
// byte. A byte scan, not a regular expression: a 10,000-server dump is megabytes.
func nextDumpHeader(data []byte, from int) (dumpHeader, bool) {
	for from < len(data) {
		i := bytes.Index(data[from:], []byte(dumpHeaderPrefix))
		if i < 0 {
			break
		}
		start := from + i
		name := start + len(dumpHeaderPrefix)
		from = name
		if start > 0 && data[start-1] != '\n' {
			continue
		}
		end := len(data)
		if nl := bytes.IndexByte(data[name:], '\n'); nl >= 0 {
			end = name + nl
		}
		line := bytes.TrimSuffix(data[name:end], []byte("\r"))
		if len(line) < 2 || line[len(line)-1] != ':' {
			continue
		}
		return dumpHeader{start: start, end: end, name: name, nameEnd: name + len(line) - 1}, true
	}
	return dumpHeader{}, false
}

// IsDump reports whether data looks like `nginx -T` output: it holds a line
// "# configuration file PATH:" that ParseDump would split on.
func IsDump(data []byte) bool {
	_, ok := nextDumpHeader(data, 0)
	return ok
}

// splitDump cuts `nginx -T` output into files. nginx writes the header line, the
// file's bytes, then one LF of its own, which is removed again here.
func splitDump(data []byte) (dumpSource, []string) {
	src := dumpSource{}
	var order []string
	h, ok := nextDumpHeader(data, 0)
	for ok {
		name := string(data[h.name:h.nameEnd])
		begin := h.end
		if begin < len(data) && data[begin] == '\n' {
			begin++
		}
		next, more := nextDumpHeader(data, h.end)
		end := len(data)
		if more {
			end = next.start
		}
		body := data[begin:end]
		body = bytes.TrimSuffix(body, []byte("\n"))
		if _, dup := src[name]; !dup {
			src[name] = body
			order = append(order, name)
		}
		h, ok = next, more
	}
	return src, order
}

// source is where included files come from: the file system or an nginx -T dump.
type source interface {
	read(name string) ([]byte, error)
	glob(pattern string) []string
}

type fsSource struct{}

func (fsSource) read(name string) ([]byte, error) {
	f, err := regularfile.Open(name) // an include of a FIFO would block os.Open for ever
	if err != nil {
		return nil, openError(name, err)
	}
	defer f.Close()
	// Read no more than the parse budget: os.ReadFile of /dev/zero never returns. A
	// buffer of the file's size (and bytes.Buffer's read margin) is filled without
	// growing: a fleet's file is megabytes.
	buf := bytes.NewBuffer(make([]byte, 0, min(remainingSize(f), maxParsedBytes+1)+bytes.MinRead))
	_, err = buf.ReadFrom(io.LimitReader(f, maxParsedBytes+1))
	if err != nil {
		return nil, fmt.Errorf(`read() "%s" failed (%v)`, name, err)
	}
	data := buf.Bytes()
	if len(data) > maxParsedBytes {
		return nil, fmt.Errorf(`"%s" is larger than %d MiB, too large for an NGINX configuration`, name, maxParsedBytes>>20)
	}
	return data, nil
}

func (fsSource) glob(pattern string) []string {
	matches, _ := filepath.Glob(pattern) // a bad pattern matches nothing, like glob(3)
	return visible(filepath.Clean(pattern), matches)
}

type dumpSource map[string][]byte

func (s dumpSource) read(name string) ([]byte, error) {
	if data, ok := s[name]; ok {
		return data, nil
	}
	if data, ok := s[filepath.Clean(name)]; ok {
		return data, nil
	}
	return nil, fmt.Errorf(`open() "%s" failed (not in the nginx -T output)`, name)
}

func (s dumpSource) glob(pattern string) []string {
	var out []string
	for name := range s {
		if ok, _ := filepath.Match(pattern, name); ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return visible(pattern, out)
}

// visible drops matches that glob(3) would not return: a wildcard does not match a
// leading "." unless the pattern component starts with one.
func visible(pattern string, matches []string) []string {
	pc := strings.Split(pattern, "/")
	out := matches[:0]
	for _, m := range matches {
		mc := strings.Split(m, "/")
		hidden := false
		for i := 0; i < len(pc) && i < len(mc) && len(pc) == len(mc); i++ {
			if strings.ContainsAny(pc[i], "*?[") && !strings.HasPrefix(pc[i], ".") && strings.HasPrefix(mc[i], ".") {
				hidden = true
			}
		}
		if !hidden {
			out = append(out, m)
		}
	}
	return out
}

// openError words a failed open like nginx: `open() "/x" failed (2: No such file or directory)`.
func openError(name string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		msg := errno.Error()
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
		return fmt.Errorf(`open() "%s" failed (%d: %s)`, name, int(errno), msg)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf(`open() "%s" failed (2: No such file or directory)`, name)
	}
	if errors.Is(err, regularfile.ErrNotRegular) {
		return fmt.Errorf(`open() "%s" failed (%v)`, name, regularfile.ErrNotRegular)
	}
	return fmt.Errorf(`open() "%s" failed (%v)`, name, err)
}

func parseMain(name string, data []byte, src source, opts Options) (*Config, error) {
	cfg := &Config{Main: name, ConfPrefix: filepath.Dir(name), opts: opts}
	cfg.Prefix = opts.Prefix
	if cfg.Prefix == "" {
		cfg.Prefix = cfg.ConfPrefix
	}
	p := &parser{cfg: cfg, src: src, index: map[string]int{}, interned: map[string]string{}}
	p.file(name, data, nil, nil)
	return cfg, cfg.Err()
}

type parser struct {
	cfg    *Config
	src    source
	index  map[string]int // File.Path → index into cfg.Files
	stack  []string       // files being parsed, for include-loop detection
	parses int
	bytes  int
	// interned are the words read so far (lexer.text).
	interned map[string]string
	// directives, args and blocks are slabs the parse takes its directives, their
	// argument lists and its blocks' child lists from: one allocation per hundreds of
	// directives instead of three per directive, and no spare capacity kept.
	directives []Directive
	args       []string
	blocks     []*Directive
	// pending holds the children of the blocks being read, innermost last, until each
	// block is complete and moved to its exact-size list (finishBlock).
	pending []*Directive
}

// newDirective returns a zero Directive from the slab.
func (p *parser) newDirective() *Directive {
	if len(p.directives) == 0 {
		p.directives = make([]Directive, 256)
	}
	d := &p.directives[0]
	p.directives = p.directives[1:]
	return d
}

// newArgs returns an empty argument list with room for n, from the slab; appending
// past n copies it out.
func (p *parser) newArgs(n int) []string {
	if len(p.args) < n {
		p.args = make([]string, max(1024, n))
	}
	a := p.args[:0:n]
	p.args = p.args[n:]
	return a
}

// finishBlock moves the children pending from mark on into a list of their own, from the
// slab, and drops them from pending; nil when there are none. Appending to the list
// copies it out.
func (p *parser) finishBlock(mark int) []*Directive {
	kids := p.pending[mark:]
	p.pending = p.pending[:mark]
	if len(kids) == 0 {
		return nil
	}
	n := len(kids)
	if len(p.blocks) < n {
		p.blocks = make([]*Directive, max(1024, n))
	}
	out := p.blocks[:n:n]
	p.blocks = p.blocks[n:]
	copy(out, kids)
	clear(kids) // pending's array is reused: keep it from holding directives
	return out
}

// file parses one file in the context of parent and returns its directives.
func (p *parser) file(name string, data []byte, parent, from *Directive) ([]*Directive, int) {
	idx, seen := p.index[name]
	if !seen {
		idx = len(p.cfg.Files)
		p.index[name] = idx
		p.cfg.Files = append(p.cfg.Files, File{Path: name})
	}
	p.parses++
	p.stack = append(p.stack, filepath.Clean(name))
	dirs, err := p.block(newLexer(name, data, p.interned), parent, from, false)
	p.stack = p.stack[:len(p.stack)-1]
	if err != nil {
		p.addError(idx, *err)
	}
	if !seen {
		p.cfg.Files[idx].Parsed = dirs
	}
	return dirs, idx
}

func (p *parser) addError(idx int, e Error) {
	for _, old := range p.cfg.Errors {
		if old == e {
			return // the same file included twice fails twice
		}
	}
	p.cfg.Errors = append(p.cfg.Errors, e)
	p.cfg.Files[idx].Errors = append(p.cfg.Files[idx].Errors, e)
}

// block is ngx_conf_parse: it reads directives until the end of the file (inBlock
// false) or the "}" closing the block it was called for, and returns them.
func (p *parser) block(lx *lexer, parent, from *Directive, inBlock bool) ([]*Directive, *Error) {
	mark := len(p.pending)
	err := p.readBlock(lx, parent, from, inBlock)
	return p.finishBlock(mark), err
}

// readBlock is block's loop: it appends the directives it reads to p.pending.
func (p *parser) readBlock(lx *lexer, parent, from *Directive, inBlock bool) *Error {
	for {
		words, end, err := lx.next()
		if err != nil {
			return err
		}
		switch end {
		case endBlockDone:
			if !inBlock {
				return lx.errorf(lx.line, `unexpected "}"`)
			}
			return nil
		case endFile:
			if inBlock {
				return lx.errorf(lx.line, `unexpected end of file, expecting "}"`)
			}
			return nil
		}
		handler := parent != nil && isHandlerBlock(parent.Name)
		if handler && end == endBlockStart {
			// map, types, geo …: a custom handler reads these lines and nginx
			// rejects any "{" before looking at the words.
			return lx.errorf(lx.line, `unexpected "{"`)
		}
		d := p.newDirective()
		d.Name, d.File, d.Line, d.Parent, d.IncludedFrom = words[0].text, lx.file, words[0].line, parent, from
		d.Args = p.newArgs(len(words) - 1)
		for _, w := range words[1:] {
			d.Args = append(d.Args, w.text)
		}
		if !handler {
			if msg := blockMismatch(d, end == endBlockStart); msg != "" {
				return lx.errorf(lx.line, "%s", msg)
			}
		}
		p.pending = append(p.pending, d)
		if end == endBlockStart {
			if strings.HasSuffix(d.Name, "_by_lua_block") {
				body, err := lx.luaBody()
				if err != nil {
					return err
				}
				d.Args = append(d.Args, body)
				continue
			}
			var err *Error
			d.Block, err = p.block(lx, d, from, true)
			if d.Block == nil {
				d.Block = []*Directive{} // an empty block is still a block
			}
			if err != nil {
				return err
			}
			continue
		}
		if d.Name == "include" {
			inc, err := p.include(lx, d, parent)
			p.pending = append(p.pending, inc...)
			if err != nil {
				return err
			}
		}
	}
}

// include is ngx_conf_include: it expands d in the context of parent.
func (p *parser) include(lx *lexer, d, parent *Directive) ([]*Directive, *Error) {
	if len(d.Args) != 1 {
		return nil, lx.errorf(lx.line, `invalid number of arguments in "include" directive`)
	}
	name := d.Args[0]
	if !filepath.IsAbs(name) {
		name = joinPrefix(p.cfg.ConfPrefix, name)
	}
	names := []string{name}
	if strings.ContainsAny(name, "*?[") {
		names = p.src.glob(name) // matching nothing is fine
	}
	var out []*Directive
	for _, n := range names {
		clean := filepath.Clean(n)
		for i, open := range p.stack {
			if open == clean {
				chain := append(append([]string{}, p.stack[i:]...), clean)
				return out, lx.errorf(lx.line, "include loop: %s", strings.Join(chain, " -> "))
			}
		}
		if p.parses >= maxFileParses {
			return out, lx.errorf(lx.line, "more than %d included files, giving up", maxFileParses)
		}
		data, err := p.src.read(n)
		if err != nil {
			return out, lx.errorf(lx.line, "%s", err.Error())
		}
		if p.bytes += len(data); p.bytes > maxParsedBytes {
			return out, lx.errorf(lx.line, "included files add up to more than %d MiB, giving up", maxParsedBytes>>20)
		}
		dirs, idx := p.file(n, data, parent, d)
		if p.cfg.includes == nil {
			p.cfg.includes = map[*Directive][]int{}
		}
		p.cfg.includes[d] = append(p.cfg.includes[d], idx)
		out = append(out, dirs...)
	}
	return out, nil
}

// The directive sets below are switches rather than maps: a package-level map is built
// by code at every start of the program (~30 page faults here), a switch is compiled in.

// isHandlerBlock reports the blocks read by a custom handler (cf->handler): their lines
// are data, not directives.
func isHandlerBlock(name string) bool {
	switch name {
	case "map", "types", "geo", "split_clients", "charset_map":
		return true
	}
	return false
}

// isBlockDirective reports the directives that always take a block; "server" takes one
// except inside upstream.
func isBlockDirective(name string) bool {
	switch name {
	case "events", "http", "stream", "mail", "location",
		"upstream", "if", "limit_except", "map", "geo",
		"types", "split_clients", "match", "charset_map",
		"server":
		return true
	}
	return false
}

// isSimpleDirective reports the directives that never take a block. nginx knows every
// directive; this list holds the ones a broken mTLS setup is likely to contain, so that
// the common "missing ;" mistakes are reported with nginx's words. Other directives are
// accepted either way.
func isSimpleDirective(name string) bool {
	switch name {
	case "include", "listen", "server_name", "root", "index", "return", "rewrite", "try_files", "set", "internal",
		"proxy_pass", "grpc_pass", "proxy_set_header", "grpc_set_header", "add_header", "default_type",
		"error_page", "error_log", "access_log", "log_format", "auth_request", "allow", "deny",
		"ssl", "ssl_certificate", "ssl_certificate_key", "ssl_client_certificate", "ssl_trusted_certificate",
		"ssl_verify_client", "ssl_verify_depth", "ssl_crl", "ssl_protocols", "ssl_ciphers",
		"ssl_prefer_server_ciphers", "ssl_session_cache", "ssl_session_timeout", "ssl_session_tickets",
		"ssl_stapling", "ssl_stapling_verify", "ssl_dhparam", "ssl_ecdh_curve", "ssl_password_file",
		"http2", "http2_max_concurrent_streams", "keepalive_timeout", "keepalive_requests", "keepalive",
		"client_max_body_size", "client_body_timeout", "client_header_timeout", "send_timeout",
		"grpc_read_timeout", "grpc_send_timeout", "grpc_connect_timeout", "grpc_socket_keepalive",
		"grpc_ssl_certificate", "grpc_ssl_certificate_key", "grpc_ssl_trusted_certificate", "grpc_ssl_verify",
		"proxy_read_timeout", "proxy_send_timeout", "proxy_connect_timeout", "proxy_http_version",
		"worker_processes", "worker_connections", "worker_rlimit_nofile", "pid", "user", "daemon",
		"master_process", "load_module", "env", "sendfile", "tcp_nopush", "tcp_nodelay", "gzip", "resolver",
		"server_tokens", "charset", "expires", "alias":
		return true
	}
	return false
}

// blockMismatch is the block check of ngx_conf_handler for the directives we know.
func blockMismatch(d *Directive, block bool) string {
	isBlock := isBlockDirective(d.Name) || strings.HasSuffix(d.Name, "_by_lua_block")
	if d.Name == "server" && d.Parent != nil && d.Parent.Name == "upstream" {
		isBlock = false
	}
	switch {
	case block && !isBlock && (isSimpleDirective(d.Name) || d.Name == "server"):
		return fmt.Sprintf("directive %q is not terminated by \";\"", d.Name)
	case !block && isBlock:
		return fmt.Sprintf("directive %q has no opening \"{\"", d.Name)
	}
	return ""
}
