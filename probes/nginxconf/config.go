package nginxconf

import (
	"path/filepath"
	"strconv"
	"strings"
)

// Config is a parsed NGINX configuration, shaped like crossplane's output.
type Config struct {
	// Main is the path of the main configuration file (nginx's -c), made absolute.
	Main string `json:"main"`
	// ConfPrefix is the directory of Main. nginx resolves relative include and ssl_*
	// file paths against it.
	ConfPrefix string `json:"confPrefix"`
	// Prefix is nginx's -p prefix, against which relative log and pid paths resolve
	// (Options.Prefix, or ConfPrefix when that was empty).
	Prefix string `json:"prefix"`
	// Files lists every file read, in the order nginx opens them; Files[0] is Main.
	// A file included several times is listed once.
	Files []File `json:"config"`
	// Errors lists every syntax error, in the order found. The first one is what
	// `nginx -t` reports; nginx stops there, this parser abandons only the file.
	Errors []Error `json:"errors,omitempty"`

	opts Options
	// includes maps an include directive to the indexes into Files of the files it pulled
	// in (Includes): kept here rather than in every Directive, as few are includes.
	includes map[*Directive][]int
}

// File is one configuration file.
type File struct {
	// Path is the file's name as nginx forms it (conf prefix + relative include).
	Path string `json:"file"`
	// Errors are the syntax errors found in this file.
	Errors []Error `json:"errors,omitempty"`
	// Parsed holds the file's top-level directives from its first inclusion. For
	// Files[0] that is the whole configuration tree.
	Parsed []*Directive `json:"parsed"`
}

// Directive is one NGINX directive.
//
// Include directives are expanded in place: the directives of each included file
// follow the include directive in its parent's Block (or at the top level), with
// Parent set to the block the include sits in, as nginx evaluates them. A child whose
// File differs from its parent's came in through an include.
type Directive struct {
	// Name is the first word, e.g. "ssl_verify_client".
	Name string `json:"directive"`
	// Args are the remaining words, quotes removed and escapes applied. For a
	// *_by_lua_block directive the last arg is the raw Lua body.
	Args []string `json:"args"`
	// File is the file the directive is written in.
	File string `json:"file"`
	// Line is the line of the directive's first word (for a block: its opening line).
	Line int `json:"line"`
	// Block holds the children of a block directive, nil for a simple directive.
	Block []*Directive `json:"block,omitempty"`
	// Parent is the enclosing block directive, nil at the top level.
	Parent *Directive `json:"-"`
	// IncludedFrom is the include directive that pulled this directive's file in, nil
	// for directives of the main file.
	IncludedFrom *Directive `json:"-"`
}

// Error is a configuration error located like nginx locates it.
type Error struct {
	// File is the file nginx would name; "" for errors outside any file.
	File string `json:"file"`
	// Line is nginx's line: where the offending character was read (for a
	// directive error, the line of its ";" or "{"; at end of file, the last line).
	Line int `json:"line"`
	// Msg is nginx's message, e.g. `unexpected "}"`.
	Msg string `json:"error"`
}

// Error formats the error as nginx does after "[emerg]": `msg in file:line`.
func (e Error) Error() string {
	if e.File == "" {
		return e.Msg
	}
	return e.Msg + " in " + e.File + ":" + strconv.Itoa(e.Line)
}

// Pos returns "file:line".
func (d *Directive) Pos() string { return d.File + ":" + strconv.Itoa(d.Line) }

// Arg returns the i-th argument, or "" when there is none.
func (d *Directive) Arg(i int) string {
	if i < len(d.Args) {
		return d.Args[i]
	}
	return ""
}

// String renders the directive as it would be written, e.g. `listen 443 ssl;`.
func (d *Directive) String() string {
	var b strings.Builder
	b.WriteString(d.Name)
	for _, a := range d.Args {
		b.WriteByte(' ')
		if a == "" || strings.ContainsAny(a, " \t\r\n;{}#\"'\\") {
			b.WriteString(strconv.Quote(a))
		} else {
			b.WriteString(a)
		}
	}
	if d.Block != nil {
		b.WriteString(" { … }")
	} else {
		b.WriteByte(';')
	}
	return b.String()
}

// Context returns the name of the enclosing block ("http", "server", "location", …),
// or "main" at the top level.
func (d *Directive) Context() string {
	if d.Parent == nil {
		return "main"
	}
	return d.Parent.Name
}

// Find returns the descendants of d named name, in order, at any depth.
func (d *Directive) Find(name string) []*Directive { return find(d.Block, name) }

// Children returns d's direct children named name.
func (d *Directive) Children(name string) []*Directive { return children(d.Block, name) }

// Tree returns the top-level directives with every include expanded.
func (c *Config) Tree() []*Directive {
	if len(c.Files) == 0 {
		return nil
	}
	return c.Files[0].Parsed
}

// Walk calls fn for every directive in configuration order, depth first. When fn
// returns false the directive's children are skipped.
func (c *Config) Walk(fn func(d *Directive) bool) { walk(c.Tree(), fn) }

// Find returns every directive named name, at any depth, in configuration order.
func (c *Config) Find(name string) []*Directive { return find(c.Tree(), name) }

// Includes returns the indexes into Files of the files the include directive d pulled
// in, in order; nil for any other directive or an include that matched nothing.
func (c *Config) Includes(d *Directive) []int { return c.includes[d] }

// Err returns the first error (what `nginx -t` would report), or nil.
func (c *Config) Err() error {
	if len(c.Errors) == 0 {
		return nil
	}
	return c.Errors[0]
}

// SetOptions replaces the options the configuration was read with, before anything is
// looked up in it: the parse itself depends only on Main's directory, so a configuration
// read before `nginx -V` answered takes the build's log paths and prefix afterwards.
func (c *Config) SetOptions(o Options) {
	c.opts, c.Prefix = o, o.Prefix
	if c.Prefix == "" {
		c.Prefix = c.ConfPrefix
	}
}

// ConfPath resolves a path the way nginx resolves include and ssl_* file arguments:
// relative to ConfPrefix. Paths holding variables or "data:" values resolve to "".
func (c *Config) ConfPath(p string) string { return resolve(c.ConfPrefix, p) }

// PrefixPath resolves a path the way nginx resolves log and pid arguments: relative
// to Prefix. Paths holding variables resolve to "".
func (c *Config) PrefixPath(p string) string { return resolve(c.Prefix, p) }

func resolve(prefix, p string) string {
	switch {
	case p == "" || strings.Contains(p, "$") || strings.HasPrefix(p, "data:"):
		return ""
	case filepath.IsAbs(p):
		return p
	}
	return joinPrefix(prefix, p)
}

// joinPrefix concatenates like ngx_conf_full_name: no cleaning, so "./x" stays visible
// and names match what `nginx -T` prints.
func joinPrefix(prefix, p string) string {
	if prefix == "" {
		return p
	}
	if strings.HasSuffix(prefix, "/") {
		return prefix + p
	}
	return prefix + "/" + p
}

func walk(ds []*Directive, fn func(*Directive) bool) {
	for _, d := range ds {
		if fn(d) {
			walk(d.Block, fn)
		}
	}
}

func find(ds []*Directive, name string) []*Directive {
	var out []*Directive
	walk(ds, func(d *Directive) bool {
		if d.Name == name {
			out = append(out, d)
		}
		return true
	})
	return out
}

func children(ds []*Directive, name string) []*Directive {
	var out []*Directive
	for _, d := range ds {
		if d.Name == name {
			out = append(out, d)
		}
	}
	return out
}
