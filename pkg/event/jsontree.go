package event

import (
	"slices"
	"sync"
)

// The debezium and salesforce_cdc formats read the whole JSON value as a
// tree of nodes, since their fields sit inside records (Debezium's after, a
// compound address). The reader's walk gives them the same checks and
// messages as the flat formats: the value is checked whole first, and a
// fault is reported at the key where the walk meets it.

// treeObject reads the members of an object whose '{' has been read. At the
// top level (top), a "schema" that is an object is kept as its raw JSON
// text: it is a Kafka Connect schema, read (once per distinct schema) only
// by the formats that use it.
//
// Members are gathered on r.stack, which nested values share (each leaves
// it as it found it), and copied once into a slice of their number, so that
// an object costs one allocation rather than a slice grown member by member.
func (r *reader) treeObject(top bool) (node, error) {
	base := len(r.stack)
	at := r.at
	err := r.members(false, nil, func(key string) error {
		if r.seen(base, key) {
			return decodeErrorf("key %q appears twice", key)
		}
		var v node
		var err error
		if top && key == "schema" && r.src[r.pos] == '{' {
			start := r.pos
			err = r.skipObject()
			v = node{kind: kindRaw, text: r.textAt(start, r.pos)}
		} else {
			v, err = r.treeValue()
		}
		r.stack = append(r.stack, member{name: key, value: v})
		return err
	})
	n := node{kind: kindRecord, members: slices.Clone(r.stack[base:])}
	clear(r.stack[base:]) // let go of the values
	r.stack = r.stack[:base]
	if err == nil {
		r.at = at // back in the enclosing object, at its key
	}
	return n, err
}

// stacks are the stacks of treeObject, reused from one record value to the
// next.
var stacks = sync.Pool{New: func() any { return new([]member) }}

// maxPooledStack bounds the stacks kept in stacks, in members.
const maxPooledStack = 4096

// seen reports whether the object whose members start at r.stack[base] has
// a member named key.
func (r *reader) seen(base int, key string) bool {
	for i := base; i < len(r.stack); i++ {
		if r.stack[i].name == key {
			return true
		}
	}
	return false
}

// treeValue reads the JSON value at r.pos.
func (r *reader) treeValue() (node, error) {
	switch c := r.src[r.pos]; c {
	case '{':
		r.pos++
		return r.treeObject(false)
	case '[':
		r.pos++
		base := len(r.stack)
		err := r.elements(func() error {
			v, err := r.treeValue()
			r.stack = append(r.stack, member{value: v})
			return err
		})
		n := node{kind: kindArray, members: slices.Clone(r.stack[base:])}
		clear(r.stack[base:])
		r.stack = r.stack[:base]
		return n, err
	case '"':
		s, err := r.str()
		return node{kind: kindText, text: s}, err
	case 'n':
		return node{}, r.literal("null")
	case 't', 'f':
		s, err := r.boolean(c)
		return node{kind: kindBool, text: s}, err
	}
	s, err := r.number()
	return node{kind: kindNumber, text: s}, err
}

// elements reads the elements of an array whose '[' has been read, up to
// and including its ']', calling elem for each.
func (r *reader) elements(elem func() error) error {
	if r.next() == ']' {
		r.pos++
		return nil
	}
	for {
		if r.next() == 0 {
			return errPrefixEnd
		}
		if err := elem(); err != nil {
			return err
		}
		if r.pos >= len(r.src) {
			return errPrefixEnd
		}
		switch r.next() {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return nil
		default:
			return errPrefixEnd
		}
	}
}

// skipObject steps over the object at r.pos without reading it.
func (r *reader) skipObject() error {
	depth := 0
	for r.pos < len(r.src) {
		switch r.src[r.pos] {
		case '"':
			end := r.pos + 1
			for end < len(r.src) && r.src[end] != '"' {
				if r.src[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(r.src) {
				return errPrefixEnd
			}
			r.pos = end
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		r.pos++
		if depth == 0 {
			return nil
		}
	}
	return errPrefixEnd
}

// textList reads a value that must be an array of strings, or null.
func textList(n *node, key string) ([]string, error) {
	switch n.kind {
	case kindNull:
		return nil, nil
	case kindArray:
	default:
		return nil, decodeErrorf("%q is %s, want an array of strings", key, n.describe())
	}
	out := make([]string, len(n.members))
	for i := range n.members {
		v := &n.members[i].value
		if v.kind != kindText {
			return nil, decodeErrorf("%q holds %s, want strings", key, v.describe())
		}
		out[i] = v.text
	}
	return out, nil
}
