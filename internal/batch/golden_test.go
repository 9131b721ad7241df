package batch

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/pkg/event"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

// goldenScenarios are streams of changes that exercise what a buffer
// keeps: coalescing under folded record keys and column names, values
// that must be quoted, nulls, non-ASCII text, original records with and
// without keys and headers, plain inserts matched by content, deletes,
// parent order and rows that are not coalesced.
var goldenScenarios = []struct {
	name   string
	policy func(*Policy)
	gen    func(r *rand.Rand, i int) *event.Change
}{
	{"upserts", nil, genUpsert},
	{"inserts", nil, genInsert},
	{"deletes", nil, genDelete},
	{"parent_order", func(p *Policy) { p.ParentOrder = true }, genChild},
	{"no_coalescing", func(p *Policy) { p.DisableCoalescing = true }, genUpsert},
}

// values holds cell texts a CSV must quote, or not.
var values = []string{"plain", "with,comma", `say "hi"`, "line\nbreak", "cr\rhere", "crlf\r\nx", "ünïcödé", "日本語", "#N/A", " spaced ",
	`"`, ",", "tab\there", "ÅNGSTRÖM", "ǅ titlecase", "İstanbul", "ß"}

var names = []string{"Name", "name", "NAME", "Industry", "Phone", "Description", "Rating__c", "Account.External_Id__c", "AccountId", "ÉCOLE__c", "école__c"}

var keys = []string{"A-1", "a-1", "B-2", "b-2", "Ü-3", "ü-3", "İ-4", "i̇-4", "K", "k", "ǅ-5", "ǆ-5", "Ω-6", "ω-6"}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func genValue(r *rand.Rand) event.Value {
	switch r.IntN(8) {
	case 0:
		return event.NullValue
	case 1:
		return event.Text(fmt.Sprintf("n%d", r.IntN(1000)))
	}
	return event.Text(pick(r, values))
}

func genSource(r *rand.Rand, i int) event.Source {
	src := event.Source{Topic: pick(r, []string{"t", "u"}), Partition: int32(r.IntN(3)), Offset: int64(i),
		Timestamp: time.Unix(1700000000+int64(r.IntN(1000)), int64(r.IntN(1e9)))}
	if r.IntN(4) > 0 {
		src.Key = []byte(fmt.Sprintf("key-%d", r.IntN(50)))
	} else if r.IntN(2) == 0 {
		src.Key = []byte{}
	}
	if r.IntN(8) > 0 {
		src.Value = []byte(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", r.IntN(40))))
	}
	for range r.IntN(3) {
		h := event.Header{Key: pick(r, []string{"h", "trace", "ünï", ""})}
		switch r.IntN(3) {
		case 0:
			h.Value = []byte(pick(r, values))
		case 1:
			h.Value = []byte{}
		}
		src.Headers = append(src.Headers, h)
	}
	return src
}

// genFields returns up to n fields of distinct folded names.
func genFields(r *rand.Rand, n int) []event.Field {
	var fs []event.Field
	for range r.IntN(n + 1) {
		name := pick(r, names)
		dup := false
		for _, f := range fs {
			dup = dup || strings.EqualFold(f.Name, name)
		}
		if !dup {
			fs = append(fs, event.Field{Name: name, Value: genValue(r)})
		}
	}
	return fs
}

func genUpsert(r *rand.Rand, i int) *event.Change {
	ext := pick(r, []string{"External_Id__c", "external_id__c", "EXTERNAL_ID__C"})
	fs := append([]event.Field{{Name: ext, Value: event.Text(pick(r, keys))}}, genFields(r, 4)...)
	return &event.Change{Object: "Account", Operation: event.Upsert, ExternalIDField: ext, Fields: fs, Source: genSource(r, i)}
}

func genInsert(r *rand.Rand, i int) *event.Change {
	fs := genFields(r, 4)
	if len(fs) == 0 {
		fs = []event.Field{{Name: "Name", Value: event.Text(pick(r, values))}}
	}
	return &event.Change{Object: "Account", Operation: event.Insert, Fields: fs, Source: genSource(r, i)}
}

func genDelete(r *rand.Rand, i int) *event.Change {
	id := fmt.Sprintf("001%012d%s", r.IntN(20), pick(r, []string{"", "AAA", "aaa"}))
	return &event.Change{Object: "Account", Operation: event.Delete, Fields: []event.Field{{Name: pick(r, []string{"Id", "ID", "id"}), Value: event.Text(id)}},
		Source: genSource(r, i)}
}

func genChild(r *rand.Rand, i int) *event.Change {
	c := genUpsert(r, i)
	c.Object = "Contact"
	c.Fields = append(c.Fields, event.Field{Name: pick(r, []string{"Parent__r.Code__c", "parent__r.code__c"}), Value: event.Text(pick(r, keys))})
	return c
}

// TestGolden checks that buffers write the same uploads and give back the
// same changes as when the golden files were written (go test -update),
// whether they stay in memory or spill to a file, and after Retry and Drop
// rebuild them.
func TestGolden(t *testing.T) {
	for _, sc := range goldenScenarios {
		t.Run(sc.name, func(t *testing.T) {
			var outs [2]string
			for k, spill := range []bool{false, true} {
				p := Policy{MaxBytes: 1 << 20, MaxRecords: 40, MaxAge: time.Second, SpillThreshold: 1 << 30, SpillDir: t.TempDir()}
				if spill {
					p.SpillThreshold = 500 // some buffers spill part way
				}
				if sc.policy != nil {
					sc.policy(&p)
				}
				outs[k] = goldenRun(t, p, sc.gen)
			}
			if outs[0] != outs[1] {
				t.Fatalf("a spilled buffer differs from one in memory:\n%s", firstDiff(outs[0], outs[1]))
			}
			file := filepath.Join("testdata", "golden", sc.name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(outs[0]), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if outs[0] != string(want) {
				t.Fatalf("differs from %s:\n%s", file, firstDiff(string(want), outs[0]))
			}
		})
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < min(len(w), len(g)); i++ {
		if w[i] != g[i] {
			return fmt.Sprintf("line %d\nwant %q\n got %q", i+1, w[i], g[i])
		}
	}
	return fmt.Sprintf("want %d lines, got %d", len(w), len(g))
}

// goldenRun batches 150 generated changes and describes every buffer
// sealed: its rows, its upload, its size, each event read back, the rows
// that result lines match, and the same of buffers rebuilt by Retry and
// Drop.
func goldenRun(t *testing.T, p Policy, gen func(*rand.Rand, int) *event.Change) string {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	bt, err := NewBatcher(p)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	n := 0
	describe := func(bs []*Buffer) {
		for _, b := range bs {
			n++
			fmt.Fprintf(&out, "== buffer %d\n", n)
			describeBuffer(t, &out, b, true)
			var evs []int
			for i := range b.Events {
				if i%3 != 1 {
					evs = append(evs, i)
				}
			}
			parts, err := b.Retry(evs, 7)
			if err != nil {
				t.Fatal(err)
			}
			for k, part := range parts {
				fmt.Fprintf(&out, "== retry %d of buffer %d\n", k, n)
				describeBuffer(t, &out, part, false)
				part.Close()
			}
			b.Close()
		}
	}
	for i := range 150 {
		c := gen(r, i)
		sealed, err := bt.Add(c, "", t0.Add(time.Duration(i)*time.Millisecond)) // distinct ages: SealAll's order is fixed
		if err != nil {
			t.Fatal(err)
		}
		describe(sealed)
		if i == 120 {
			if err := bt.Drop("t", 1); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&out, "== dropped t/1\n")
		}
	}
	describe(bt.SealAll(ReasonShutdown))
	return out.String()
}

// describeBuffer writes b's rows, upload and size and, with events, each
// event read back and the rows that result lines match.
func describeBuffer(t *testing.T, out *strings.Builder, b *Buffer, events bool) {
	t.Helper()
	var csv bytes.Buffer
	if err := b.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(out, "key %s reason %s size %d columns %q\n", b.Key, b.Reason, b.Size(), b.Columns())
	for i, row := range b.Rows {
		fmt.Fprintf(out, "row %d %q %v\n", i, row.RecordKey, row.Events)
	}
	fmt.Fprintf(out, "csv:\n%s", csv.String())
	if !events {
		return
	}
	for i, ev := range b.Events {
		c, err := b.Change(i)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(out, "event %d %s/%d@%d row %d: %s %s %q by %q", i, ev.Topic(), ev.Partition, ev.Offset, ev.Row,
			c.Object, c.Operation, c.ExternalIDField, c.RecordKey())
		for _, f := range c.Fields {
			fmt.Fprintf(out, " %q=%q(null %v)", f.Name, f.Value.Text, f.Value.Null)
		}
		out.WriteByte('\n')
		s := c.Source
		fmt.Fprintf(out, "  source %s/%d@%d %s key %q(nil %v) value %q(nil %v) headers %d",
			s.Topic, s.Partition, s.Offset, s.Timestamp.UTC().Format(time.RFC3339Nano), s.Key, s.Key == nil, s.Value, s.Value == nil, len(s.Headers))
		for _, h := range s.Headers {
			fmt.Fprintf(out, " %q=%q(nil %v)", h.Key, h.Value, h.Value == nil)
		}
		out.WriteByte('\n')
	}
	// Match every line of the upload as a result file would echo it, in
	// reverse order.
	lines := strings.Split(strings.TrimSuffix(csv.String(), "\n"), "\n")
	header := b.Columns()
	var rows []string
	for i := len(b.Rows) - 1; i >= 0; i-- {
		cells := rowCells(t, b, i)
		row, ok := b.Match(header, cells)
		rows = append(rows, fmt.Sprintf("%d:%d/%v", i, row, ok))
	}
	fmt.Fprintf(out, "lines %d matches %s\n", len(lines), strings.Join(rows, " "))
}

// rowCells merges row i the slow way: every event's fields, later over
// earlier, in the buffer's columns.
func rowCells(t testing.TB, b *Buffer, i int) []string {
	t.Helper()
	cells := make([]string, len(b.Columns()))
	for _, ei := range b.Rows[i].Events {
		c, err := b.Change(ei)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range c.Fields {
			for k, col := range b.Columns() {
				if col == f.Name {
					cells[k] = f.Value.CSV()
				}
			}
		}
	}
	return cells
}
