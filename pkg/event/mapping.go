package event

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// MappingRules are how a route turns the fields of its events into the
// fields of its Salesforce records. Every format applies them, after
// decoding and before the checks of the operation (so a field renamed to
// Id or to the external id field counts as that field).
//
// Source names are the names the event gives its fields; a nested record's
// fields are named by their path (address.city). Target names are
// Salesforce field names, matched regardless of case as Salesforce does.
type MappingRules struct {
	// Rename gives source fields Salesforce names: {cust_name: Name}.
	Rename map[string]string
	// Include, when not empty, lists the only source fields sent.
	Include []string
	// Exclude lists source fields that are not sent. Set Include or
	// Exclude, not both.
	Exclude []string
	// Static sets Salesforce fields to fixed values in every change,
	// over the event's own value if it has one. "" sets the field to null.
	// Deletes carry only Id and take no static values.
	Static map[string]string
	// TypeHints say how to read fields whose source type is ambiguous, by
	// their Salesforce name (after Rename): {CloseDate: date} reads an
	// epoch-millisecond number as a date. See TypeHint.
	TypeHints map[string]TypeHint
}

// Mapping is MappingRules checked and ready to apply. A nil *Mapping maps
// nothing: every field is sent under its own name. It is safe for
// concurrent use.
type Mapping struct {
	rename  map[string]string
	include map[string]bool // nil: every field not excluded
	exclude map[string]bool
	static  []Field // by name
	hints   []hint
}

type hint struct {
	field string
	hint  TypeHint
}

// NewMapping checks r and returns the mapping it describes. Its errors say
// which rule is wrong.
func NewMapping(r MappingRules) (*Mapping, error) {
	var errs []error
	m := &Mapping{rename: map[string]string{}, exclude: map[string]bool{}}
	if len(r.Include) > 0 && len(r.Exclude) > 0 {
		errs = append(errs, errors.New("set include or exclude, not both"))
	}
	targets := map[string]string{} // folded target → source
	for _, src := range slices.Sorted(maps.Keys(r.Rename)) {
		to := r.Rename[src]
		if err := checkFieldName(to); err != nil {
			errs = append(errs, fmt.Errorf("rename %s: %s", src, err.(*DecodeError).Reason))
			continue
		}
		if other, dup := targets[strings.ToLower(to)]; dup {
			errs = append(errs, fmt.Errorf("rename: %s and %s are both renamed to %s", other, src, to))
		}
		targets[strings.ToLower(to)] = src
		m.rename[src] = to
	}
	if len(r.Include) > 0 {
		m.include = map[string]bool{}
		for _, f := range r.Include {
			m.include[f] = true
		}
	}
	for _, f := range r.Exclude {
		m.exclude[f] = true
	}
	for _, name := range slices.Sorted(maps.Keys(r.Static)) {
		if err := checkFieldName(name); err != nil {
			errs = append(errs, fmt.Errorf("static: %s", err.(*DecodeError).Reason))
			continue
		}
		v := NullValue
		if s := r.Static[name]; s != "" {
			v = Text(s)
		}
		m.static = append(m.static, Field{Name: name, Value: v})
	}
	for _, name := range slices.Sorted(maps.Keys(r.TypeHints)) {
		h := r.TypeHints[name]
		if !slices.Contains(TypeHints, h) {
			errs = append(errs, fmt.Errorf("type hint of %s: %q is not one of date, datetime, decimal, string, int, boolean", name, h))
			continue
		}
		m.hints = append(m.hints, hint{field: name, hint: h})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// renames reports whether the rules name the source field src in Rename
// or Include.
func (m *Mapping) renames(src string) bool {
	if m == nil {
		return false
	}
	_, renamed := m.rename[src]
	return renamed || m.include[src]
}

// hintOf returns the type hint of the Salesforce field name, or "".
func (m *Mapping) hintOf(name string) TypeHint {
	if m == nil {
		return ""
	}
	for _, h := range m.hints {
		if strings.EqualFold(h.field, name) {
			return h.hint
		}
	}
	return ""
}

// keyColumn names the source column that carries a change's external id
// value (a Debezium route's key_field) and the field it becomes.
type keyColumn struct{ source, field string }

// apply turns the columns of an event into its fields. The key column, if
// any, becomes its field whatever the rules say. defaultName, unless nil,
// names the fields the rules do not rename (a Salesforce CDC compound
// field's parts). The fields are then checked as the JSON formats check
// theirs: names a CSV header can carry, none twice regardless of case.
func (m *Mapping) apply(cols []column, key keyColumn, defaultName func(string) string) ([]Field, error) {
	fs := make([]Field, 0, len(cols)+m.staticCount())
	for _, c := range cols {
		name := c.name
		switch {
		case key.source != "" && name == key.source:
			name = key.field
		case m != nil && (m.exclude[name] || m.include != nil && !m.include[name]):
			continue
		default:
			to, ok := "", false
			if m != nil {
				to, ok = m.rename[name]
			}
			switch {
			case ok:
				name = to
			case defaultName != nil:
				name = defaultName(name)
			}
		}
		v, err := c.value.value(m.hintOf(name))
		if err != nil {
			what := fmt.Sprintf("field %q", c.name)
			if name != c.name {
				what += fmt.Sprintf(" (sent as %s)", name)
			}
			return nil, decodeErrorf("%s: %s", what, err.(*DecodeError).Reason)
		}
		fs = append(fs, Field{Name: name, Value: v})
	}
	if m != nil {
		for _, s := range m.static {
			if i := fieldIndex(fs, s.Name); i >= 0 {
				fs[i].Value = s.Value
			} else {
				fs = append(fs, s)
			}
		}
	}
	return fs, checkFields(fs)
}

func (m *Mapping) staticCount() int {
	if m == nil {
		return 0
	}
	return len(m.static)
}

// applyText maps the fields that the JSON formats read, whose values are
// text: type hints read a number of milliseconds or an ISO 8601 text as a
// date, a number as a plain decimal, and so on.
func (m *Mapping) applyText(fs []Field) ([]Field, error) {
	nodes := make([]node, len(fs))
	cols := make([]column, len(fs))
	for i, f := range fs {
		if !f.Value.Null {
			nodes[i] = node{kind: kindText, text: f.Value.Text}
		}
		cols[i] = column{name: f.Name, value: &nodes[i]}
	}
	return m.apply(cols, keyColumn{}, nil)
}

// checkFields checks the names of mapped fields: each usable as a CSV
// header, and none twice regardless of case.
func checkFields(fs []Field) error {
	var fold map[string]string
	if len(fs) > foldMapAt {
		fold = make(map[string]string, len(fs))
	}
	for i, f := range fs {
		if err := checkFieldName(f.Name); err != nil {
			return err
		}
		other, dup := "", false
		if fold == nil {
			if j := fieldIndex(fs[:i], f.Name); j >= 0 {
				other, dup = fs[j].Name, true
			}
		} else {
			k := strings.ToLower(f.Name)
			other, dup = fold[k]
			fold[k] = f.Name
		}
		switch {
		case dup && other == f.Name:
			return decodeErrorf("two fields are sent as %s; rename or exclude one", f.Name)
		case dup:
			return decodeErrorf("fields %s and %s are one field to Salesforce, which ignores case; rename or exclude one", other, f.Name)
		}
	}
	return nil
}
