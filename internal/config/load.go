package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Load reads the configuration file at path with Parse, expanding ${VAR}
// from the process environment. Messages name the file as path is written.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse reads a configuration from data: it expands ${VAR} references in
// the values with lookupEnv (nil is an empty environment), decodes the YAML
// over Default, failing on keys the Config does not have, fills in the
// routes' defaults and runs Validate. name is the file name used in
// messages. An empty document is an empty configuration.
//
// References: ${NAME} is the variable's value, an error if it is unset;
// ${NAME:-default} is the value, or default if the variable is unset or
// empty; $$ is a literal $, and any other $ stays as it is. Only values are
// expanded, after the YAML is parsed, so a value cannot add keys or break
// the file's structure whatever it contains, and comments are left alone.
// An unquoted value is typed after expansion (max_records: ${N} is a
// number); a quoted one stays a string.
//
// The error joins an *Error for each problem found; the YAML must parse,
// expand and decode before Validate runs.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	c := Default()
	c.file = name
	doc, err := parseDocument(name, data)
	if err != nil {
		return nil, err
	}
	if doc != nil {
		l := newLayout(name, doc)
		if err := l.expandEnv(doc, lookupEnv); err != nil {
			return nil, err
		}
		if err := doc.Load(c, yaml.WithKnownFields()); err != nil {
			return nil, l.explain(err)
		}
		c.lines = l.lines
	}
	c.routeDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseDocument parses data into a node tree, or nil for an empty document.
func parseDocument(name string, data []byte) (*yaml.Node, error) {
	loader, err := yaml.NewLoader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var doc yaml.Node
	switch err := loader.Load(&doc); {
	case errors.Is(err, io.EOF):
		return nil, nil
	case err != nil:
		return nil, syntaxError(name, err)
	}
	var next yaml.Node
	switch err := loader.Load(&next); {
	case errors.Is(err, io.EOF):
		return &doc, nil
	case err != nil:
		return nil, syntaxError(name, err)
	}
	return nil, &Error{File: name, Line: next.Line, Msg: "a second YAML document; the configuration is one document"}
}

func syntaxError(name string, err error) error {
	var le *yaml.LoadError
	if !errors.As(err, &le) {
		return fmt.Errorf("%s: %w", name, err)
	}
	msg := le.Message
	if le.ContextMsg != "" && le.ContextMark.Line > 0 {
		msg += fmt.Sprintf(" (%s from line %d)", le.ContextMsg, le.ContextMark.Line)
	}
	return &Error{File: name, Line: le.Mark.Line, Msg: msg}
}

// A layout knows where each key of a parsed file is, so that messages can
// name the key and its line. It is built by walking the node tree together
// with the Go type each node decodes into.
type layout struct {
	file string
	// lines maps the dotted path of each key and list item to its line;
	// for a key given twice, the first.
	lines map[string]int
	// at maps the position of each key, and of each value that is not a
	// mapping decoded into a struct, to what sits there. The decoder
	// reports its errors at these positions. A struct's mapping starts
	// where its first key does, so it is left out to keep positions
	// unique; the decoder reports no error of its own there.
	at map[position]placed
}

type position struct{ line, column int }

// placed is a key or value at a position.
type placed struct {
	path string
	node *yaml.Node
	// key is true for a mapping key; in is then the struct that holds
	// it, and want nil if that struct has no such key.
	key bool
	in  reflect.Type
	// want is the Go type the value decodes into.
	want reflect.Type
}

func newLayout(file string, doc *yaml.Node) *layout {
	l := &layout{file: file, lines: map[string]int{}, at: map[position]placed{}}
	l.walk(doc.Content[0], reflect.TypeFor[Config](), "")
	return l
}

func (l *layout) walk(n *yaml.Node, t reflect.Type, path string) {
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				continue // the decoder reports it; there is no path to name
			}
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			want := fieldType(t, k.Value)
			l.at[position{k.Line, k.Column}] = placed{path: p, node: k, key: true, in: t, want: want}
			if _, seen := l.lines[p]; !seen {
				l.lines[p] = k.Line
			}
			if want != nil {
				l.walk(v, want, p)
			}
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		// A map's keys are data (mapping.rename's source fields), so any
		// key is known; messages name it as key.path.name.
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := path + "." + k.Value
			l.at[position{k.Line, k.Column}] = placed{path: p, node: k, key: true, in: t, want: t.Elem()}
			if _, seen := l.lines[p]; !seen {
				l.lines[p] = k.Line
			}
			l.walk(v, t.Elem(), p)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			l.lines[p] = item.Line
			l.walk(item, t.Elem(), p)
		}
	default:
		l.at[position{n.Line, n.Column}] = placed{path: path, node: n, want: t}
	}
}

// fieldType returns the type of t's field whose YAML key is key, or nil.
func fieldType(t reflect.Type, key string) reflect.Type {
	for f := range t.Fields() {
		if f.IsExported() && yamlKey(f) == key {
			return f.Type
		}
	}
	return nil
}

// keys lists the YAML keys of struct t, in order.
func keys(t reflect.Type) []string {
	var ks []string
	for f := range t.Fields() {
		if f.IsExported() {
			ks = append(ks, yamlKey(f))
		}
	}
	return ks
}

func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// explain turns the decoder's errors into *Errors that name the key.
func (l *layout) explain(err error) error {
	var les *yaml.LoadErrors
	if !errors.As(err, &les) {
		return fmt.Errorf("%s: %w", l.file, err)
	}
	errs := make([]error, 0, len(les.Errors))
	for _, le := range les.Errors {
		errs = append(errs, l.explainOne(le))
	}
	return errors.Join(errs...)
}

func (l *layout) explainOne(le *yaml.LoadError) *Error {
	e := &Error{File: l.file, Line: le.Mark.Line, Msg: le.Message}
	p, ok := l.at[position{le.Mark.Line, le.Mark.Column}]
	if !ok {
		return e
	}
	e.Key = p.path
	switch {
	case p.key && p.want == nil:
		what := "the top level"
		if i := strings.LastIndexByte(p.path, '.'); i >= 0 {
			what = p.path[:i]
		}
		e.Msg = fmt.Sprintf("unknown key; %s has %s", what, strings.Join(keys(p.in), ", "))
	case p.key:
		e.Msg = fmt.Sprintf("given twice; first at line %d", l.lines[p.path])
	case p.want == reflect.TypeFor[Size]() && p.node.Kind == yaml.ScalarNode:
		// Size.UnmarshalYAML's own message says what is wrong.
	default:
		e.Msg = fmt.Sprintf("want %s, got %s", describeType(p.want), describeNode(p.node))
	}
	return e
}

func describeType(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[time.Duration]():
		return "a duration such as 500ms, 10s or 1m30s"
	case reflect.TypeFor[Size]():
		return "a size such as 1048576, 512KiB or 100MB"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "a list of mappings"
		}
		return "a list of " + strings.TrimPrefix(describeType(t.Elem()), "a ") + "s"
	case reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias of " + describeNode(n.Alias)
	}
	v := n.Value
	if r := []rune(v); len(r) > 40 {
		v = string(r[:37]) + "..."
	}
	return strconv.Quote(v)
}

// expandEnv expands the references in every value of the tree.
func (l *layout) expandEnv(n *yaml.Node, lookupEnv func(string) (string, bool)) error {
	var errs []error
	var visit func(n *yaml.Node)
	visit = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.ScalarNode:
			v, err := expand(n.Value, lookupEnv)
			if err != nil {
				p := l.at[position{n.Line, n.Column}]
				errs = append(errs, &Error{File: l.file, Line: n.Line, Key: p.path, Msg: err.Error()})
				return
			}
			if v == n.Value {
				return
			}
			n.Value = v
			if n.Style == 0 { // plain: type the new text as if written so
				n.Tag = ""
				if v == "" {
					n.Tag = "!!str" // not null, which would keep the default
				}
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				visit(n.Content[i])
			}
		default:
			for _, c := range n.Content {
				visit(c)
			}
		}
	}
	visit(n)
	return errors.Join(errs...)
}

// expand replaces ${NAME}, ${NAME:-default} and $$ in s.
func expand(s string, lookupEnv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			s = s[i+1:]
			continue
		}
		ref, rest, ok := strings.Cut(s[i+2:], "}")
		if !ok {
			return "", fmt.Errorf("%q has no closing }; write $$ for a literal $", s[i:])
		}
		name, def, hasDefault := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s}: want ${NAME} or ${NAME:-default}, NAME made of letters, digits and _; write $$ for a literal $", ref)
		}
		v, set := lookupEnv(name)
		switch {
		case hasDefault && v == "":
			v = def
		case !set:
			return "", fmt.Errorf("environment variable %s is not set; give a default with ${%s:-default}", name, name)
		}
		b.WriteString(v)
		s = rest
	}
}

func validEnvName(name string) bool {
	if name == "" || ('0' <= name[0] && name[0] <= '9') {
		return false
	}
	for _, r := range name {
		if r != '_' && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && !('0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
