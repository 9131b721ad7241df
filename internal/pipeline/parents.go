package pipeline

import (
	"context"
	"strings"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// references knows which columns of an object refer to parent records, so
// that a change to a child waits while a change to its parent is buffered
// or in a job, on whichever route (see launch). It learns them from
// Salesforce's describe of the object, asked once, in the background, the
// first time the object is seen; until the answer comes (or if describe
// fails), the column's name tells: a relationship column
// (Account.External_Id__c, Parent__r.Code__c) names the parent object by
// its relationship (Account; Parent__r → Parent__c), a standard lookup
// (AccountId) by its name. Custom lookups (Parent__c) and relationship
// names that differ from their object (Owner → User) need the describe.
// The main loop owns it.
type references struct {
	objects map[string]*objectRefs // object → its parent columns; an entry with described unset while describe runs
}

// objectRefs are the parent columns of one object.
type objectRefs struct {
	described bool
	// relationships maps a folded relationship name to the parent object
	// (the only object of a non-polymorphic reference field).
	relationships map[string]string
	// lookups maps a folded reference field name to the parent object.
	lookups map[string]string
	// seen memoises a column as events spell it: its parent object, or ""
	// for a column that names no parent; at most maxColumns, nil for an
	// object past maxObjects.
	seen map[string]column
	// last are the columns of the object's last change, in its order: a
	// stream's changes mostly name the same fields in the same order, and
	// comparing names costs less than looking each up in seen.
	last []column
}

// column is a column as events spell it and the object it refers to, ""
// for none.
type column struct{ name, parent string }

// Bounds of what references keeps: objects (each described once) and
// columns memoised per object. Both come from the data.
const (
	maxObjects = 1000
	maxColumns = 2000
)

// describedObject is the answer of a describe task, for the main loop.
type describedObject struct {
	object string
	refs   *objectRefs // nil when describe failed for good: names decide
}

func newReferences() *references { return &references{objects: map[string]*objectRefs{}} }

// parents returns the identities of the records c refers to as parents:
// for a relationship column, the parent's identity by that external id;
// for a lookup, the parent's identity by Id, or by external id when the id
// cache knows it. describe is called for an object seen for the first
// time.
func (p *Pipeline) parents(c *event.Change) []string {
	if c.Operation.IsDelete() {
		return nil
	}
	refs := p.refs.objects[c.Object]
	if refs == nil && len(p.refs.objects) >= maxObjects {
		// Object names come from the data (envelopes): past this many,
		// names decide and nothing is kept, so a stream of made-up
		// objects costs neither memory nor describe calls.
		refs = &objectRefs{}
	} else if refs == nil {
		if d := p.opts.Described[strings.ToLower(c.Object)]; d != nil {
			refs = refsOf(d)
		} else {
			refs = &objectRefs{seen: map[string]column{}}
			if p.background != nil {
				object := c.Object
				p.spawn(func() { p.describeRefs(p.background, object) })
			}
		}
		p.refs.objects[c.Object] = refs
	}
	cols := refs.columns(c.Fields)
	var out []string
	for i, f := range c.Fields {
		if f.Value.Null || f.Value.Text == "" {
			continue
		}
		parent := cols[i].parent
		if parent == "" {
			continue
		}
		if rel, ext, ok := strings.Cut(f.Name, "."); ok && rel != "" {
			out = append(out, parent+"/"+strings.ToLower(ext)+"="+strings.ToLower(f.Value.Text))
			continue
		}
		if len(f.Value.Text) >= 15 {
			out = append(out, p.ids.ofID(parent, f.Value.Text))
		}
	}
	return out
}

// columns returns the columns of fields with their parent objects: the
// last change's when the names are the same, else found in seen, or by
// parentOf.
func (r *objectRefs) columns(fields []event.Field) []column {
	same := len(fields) == len(r.last)
	for i := 0; same && i < len(fields); i++ {
		same = fields[i].Name == r.last[i].name
	}
	if same {
		return r.last
	}
	r.last = r.last[:0]
	for _, f := range fields {
		col, ok := r.seen[f.Name]
		if !ok {
			// A copy of the name: cut from the event's value, it would keep
			// that alive for as long as the object is known.
			col = column{strings.Clone(f.Name), r.parentOf(f.Name)}
			if r.seen != nil && len(r.seen) < maxColumns {
				r.seen[f.Name] = col
			}
		}
		r.last = append(r.last, col)
	}
	return r.last
}

// parentColumns returns the columns of a buffer of object that refer to
// parent records, when describe has told the object's references; nil
// otherwise (the buffer then tells them by their names).
func (r *references) parentColumns(object string, columns []string) []string {
	refs := r.objects[object]
	if refs == nil || !refs.described {
		return nil
	}
	out := []string{}
	for _, c := range columns {
		if refs.parentOf(c) != "" {
			out = append(out, c)
		}
	}
	return out
}

// parentOf returns the object that column refers to, or "".
func (r *objectRefs) parentOf(column string) string {
	if rel, _, ok := strings.Cut(column, "."); ok {
		if r.described {
			return r.relationships[strings.ToLower(rel)]
		}
		if base, ok := strings.CutSuffix(rel, "__r"); ok {
			return base + "__c"
		}
		return rel
	}
	if r.described {
		return r.lookups[strings.ToLower(column)]
	}
	if len(column) > 2 && strings.HasSuffix(column, "Id") && !strings.EqualFold(column, "Id") {
		return column[:len(column)-2]
	}
	return ""
}

// describeRefs asks Salesforce which fields of object are references,
// trying a few times over about a minute (an outage is waited out by the
// jobs, not here), and hands the answer to the main loop.
func (p *Pipeline) describeRefs(ctx context.Context, object string) {
	var d *bulk.ObjectDescription
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if d, err = p.opts.Salesforce.Describe(ctx, object); err == nil || ctx.Err() != nil || !bulk.IsRetryable(err) {
			break
		}
		if !sleep(ctx, time.Duration(attempt)*5*time.Second) {
			break
		}
	}
	var refs *objectRefs
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("describe failed: parent columns of the object are told by their names", "object", object, "error", err)
		}
	} else {
		refs = refsOf(d)
	}
	select {
	case p.described <- describedObject{object, refs}:
	case <-p.loopEnded:
	}
}

// refsOf reads the parent columns of an object from its description.
func refsOf(d *bulk.ObjectDescription) *objectRefs {
	refs := &objectRefs{described: true, relationships: map[string]string{}, lookups: map[string]string{}, seen: map[string]column{}}
	for _, f := range d.Fields {
		if len(f.ReferenceTo) != 1 { // not a reference, or polymorphic (WhoId)
			continue
		}
		refs.lookups[strings.ToLower(f.Name)] = f.ReferenceTo[0]
		if f.RelationshipName != "" {
			refs.relationships[strings.ToLower(f.RelationshipName)] = f.ReferenceTo[0]
		}
	}
	return refs
}

// learn installs what describe said about an object.
func (r *references) learn(d describedObject) {
	if d.refs != nil {
		r.objects[d.object] = d.refs
	}
}
