package pipeline

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// Deletes by external id. Bulk API 2.0 deletes records by Id only, so a
// buffer of deletes that name their records by an external id value is
// resolved to Ids before its job: first from the id cache (identities,
// filled from the results of upserts and inserts), then, for the values the
// cache does not know, by one Bulk query job per external id field and
// buffer (SELECT Id, Ext FROM Object WHERE Ext IN (...), cut to SOQL's
// length limit). What is uploaded, journaled and retried is a new buffer of
// the same events with Id rows; an event whose value names no record gets a
// BULKSTREAM_NOT_FOUND failure instead.

// maxSOQL is the longest SOQL statement Salesforce accepts, in characters.
const maxSOQL = 100_000

// needsIDs reports whether b is a delete buffer with rows that name their
// record by external id.
func needsIDs(b *batch.Buffer) bool {
	if !b.Key.Operation.IsDelete() {
		return false
	}
	for _, c := range b.Columns() {
		if !strings.EqualFold(c, "Id") {
			return true
		}
	}
	return false
}

// cachedIDs returns the Ids that the id cache knows for the rows of b, a
// buffer that needs them, by row. It runs in the main loop, which owns the
// cache; at launch no job holds b's records, so the cache has what their
// earlier upserts learned.
func (p *Pipeline) cachedIDs(b *batch.Buffer) map[int]string {
	if !needsIDs(b) {
		return nil
	}
	found := map[int]string{}
	for i, r := range b.Rows {
		if r.Identity == "" {
			continue
		}
		if id, ok := p.ids.id(r.Identity); ok {
			found[i] = id
		}
	}
	return found
}

// resolve returns a buffer of b's events whose records were found, each as
// a delete by Id, and the outcomes of the events whose records were not
// (BULKSTREAM_NOT_FOUND, or the query's error when the query itself
// failed). cached holds the Ids the id cache gave, by row of b. recycled
// asks Salesforce about deleted records too (queryAll): a job that ran
// before a crash deleted them already, and its results are to be matched
// again. The caller owns the buffer returned (nil when no event is left).
func (p *Pipeline) resolve(ctx context.Context, b *batch.Buffer, cached map[int]string, recycled bool) (*batch.Buffer, []outcome, error) {
	changes := make([]*event.Change, len(b.Events))
	ids := make([]string, len(b.Events))
	wanted := map[string]map[string]bool{} // external id field → folded values to query
	for i := range b.Events {
		c, err := b.Change(i)
		if err != nil {
			return nil, nil, err
		}
		changes[i] = c
		if v, ok := c.Get("Id"); ok {
			ids[i] = v.Text
			continue
		}
		if id, ok := cached[b.Events[i].Row]; ok {
			ids[i] = id
			continue
		}
		field, value := c.Fields[0].Name, strings.ToLower(c.Fields[0].Value.Text)
		if wanted[field] == nil {
			wanted[field] = map[string]bool{}
		}
		wanted[field][value] = true
	}
	found := map[string]map[string]string{} // field → folded value → Id
	failed := map[string]error{}            // field → why its query failed
	for field, values := range wanted {
		m, err := p.queryIDs(ctx, b.Key.Object, field, values, recycled)
		switch {
		case ctx.Err() != nil:
			return nil, nil, errStopped
		case err != nil:
			p.log.Warn("resolving deletes by external id failed", "object", b.Key.Object, "field", field, "values", len(values), "error", err)
			failed[field] = err
		}
		found[field] = m
	}

	var out *batch.Buffer
	var missing []outcome
	for i, c := range changes {
		if ids[i] == "" {
			field, value := c.Fields[0].Name, c.Fields[0].Value.Text
			ids[i] = found[field][strings.ToLower(value)]
			if ids[i] == "" {
				res := Result{Object: b.Key.Object, Operation: string(b.Key.Operation), Source: sourceOf(&c.Source),
					ErrorCode: CodeNotFound, Error: fmt.Sprintf("no %s has %s = %q: a %s by external id needs the record's Id", b.Key.Object, field, value, b.Key.Operation)}
				if err := failed[field]; err != nil {
					res.ErrorCode, res.Error = errorCode(err), fmt.Sprintf("resolving %s %s = %q to an Id: %v", b.Key.Object, field, value, err)
				}
				missing = append(missing, outcome{result: res, src: c.Source})
				continue
			}
		}
		if out == nil {
			out = batch.NewBuffer(batch.Key{Object: b.Key.Object, Operation: b.Key.Operation}, p.opts.Batch, b.Opened)
		}
		byID := &event.Change{Object: c.Object, Operation: c.Operation, Fields: []event.Field{{Name: "Id", Value: event.Text(ids[i])}}, Source: c.Source}
		if err := out.Add(byID, b.Rows[b.Events[i].Row].Identity); err != nil {
			out.Close()
			return nil, nil, fmt.Errorf("rebuild deletes by Id: %w", err)
		}
	}
	if out != nil {
		out.Seal(b.Reason)
	}
	return out, missing, nil
}

// queryIDs asks Salesforce for the Ids of the records of object whose field
// has one of values (folded to lower case, as the result's keys are), by
// query jobs of at most maxSOQL characters each.
func (p *Pipeline) queryIDs(ctx context.Context, object, field string, values map[string]bool, recycled bool) (map[string]string, error) {
	found := map[string]string{}
	prefix := "SELECT Id, " + field + " FROM " + object + " WHERE " + field + " IN ("
	op := bulk.OpQuery
	if recycled {
		op = bulk.OpQueryAll
	}
	var q strings.Builder
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		q.WriteString(")")
		err := p.runQuery(ctx, q.String(), op, field, found)
		q.Reset()
		n = 0
		return err
	}
	for v := range values {
		lit := soqlString(v)
		if len(prefix)+len(lit)+1 > maxSOQL {
			continue // longer than any external id field (255 characters): no record has it
		}
		if n > 0 && q.Len()+len(", ")+len(lit)+1 > maxSOQL {
			if err := flush(); err != nil {
				return found, err
			}
		}
		if n == 0 {
			q.WriteString(prefix)
		} else {
			q.WriteString(", ")
		}
		q.WriteString(lit)
		n++
	}
	return found, flush()
}

// runQuery runs one query job and adds the Ids it returns to found, by the
// folded value of field.
func (p *Pipeline) runQuery(ctx context.Context, soql string, op bulk.Operation, field string, found map[string]string) error {
	job, err := p.opts.Salesforce.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: soql, Operation: op})
	if err != nil {
		return err
	}
	info, err := p.opts.Salesforce.WaitQueryJob(ctx, job.ID)
	if err != nil {
		return err
	}
	if info.State != bulk.StateJobComplete {
		return info.Err()
	}
	rr, err := p.opts.Salesforce.QueryResults(ctx, info, bulk.QueryResultsOptions{})
	if err != nil {
		return err
	}
	defer rr.Close()
	for {
		row, err := rr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		id, _ := row.Get("Id")
		v, _ := row.Get(field)
		if id != "" && v != "" {
			found[strings.ToLower(v)] = id
		}
	}
}

// soqlString quotes s as a SOQL string literal.
func soqlString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\\', '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
