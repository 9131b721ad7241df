package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// resultTexts are strings a result's fields may hold, with every byte
// that encoding/json escapes: quotes, backslashes, control characters,
// HTML characters, U+2028 and U+2029, and invalid UTF-8.
var resultTexts = []string{"", "Account", "upsert", "hardDelete", "INVALID_FIELD", "BULKSTREAM_DECODE", "750xx000000001AAA",
	`say "hi"`, `back\slash`, "line\nbreak", "cr\rtab\tff\fbs\b", "nul\x00 us\x1f del\x7f", "<script>&amp;</script>",
	"ünïcödé 日本語 🙂", "sep\u2028par\u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate", "trunc\xe6\x97",
	"decode: field \"Name\": value is an object; a field takes a string, number, boolean or null"}

func encodeJSONCases() []*Result {
	id := "001xx000003DGb2AAG"
	empty := ""
	odd := "id \"<\u2028>\" \xff"
	cases := []*Result{
		{},
		{Success: true, Created: true, ID: &id, Object: "Account", Operation: "upsert", JobID: "750xx", Attempts: 1,
			Source: Source{Topic: "crm.accounts", Partition: 3, Offset: 1234567}},
		{ID: &empty, ErrorCode: "DUPLICATE_VALUE", Error: "duplicate value found: <unknown> duplicates value on record with id: <unknown>",
			Attempts: -1, Source: Source{Partition: -1, Offset: -1}},
		{ID: &odd, Source: Source{Partition: math.MaxInt32, Offset: math.MaxInt64}, Attempts: math.MaxInt},
		{Source: Source{Partition: math.MinInt32, Offset: math.MinInt64}, Attempts: math.MinInt,
			ReplayOf: &Source{Topic: "crm.dead-letter", Partition: 0, Offset: 0}},
		{Success: true, ReplayOf: &Source{Topic: "dlq \"x\" <y>", Partition: 7, Offset: 99}},
		{SourceTimestamp: 1_700_000_000_123, SourceHeaders: []Header{{"traceparent", "00-abc-01"}, {"", ""}, {"bin", "\xff\x00<"}}},
		{SourceTimestamp: -1, SourceHeaders: []Header{}},
	}
	r := rand.New(rand.NewPCG(5, 6))
	text := func() string {
		if r.IntN(4) == 0 { // random bytes, often invalid UTF-8
			b := make([]byte, r.IntN(12))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return string(b)
		}
		return resultTexts[r.IntN(len(resultTexts))]
	}
	for range 500 {
		res := &Result{Success: r.IntN(2) == 0, Created: r.IntN(2) == 0, Object: text(), Operation: text(), ErrorCode: text(), Error: text(),
			JobID: text(), Attempts: r.IntN(5), Source: Source{Topic: text(), Partition: r.Int32N(100), Offset: r.Int64()}}
		if r.IntN(2) == 0 {
			s := text()
			res.ID = &s
		}
		if r.IntN(3) == 0 {
			res.ReplayOf = &Source{Topic: text(), Partition: r.Int32N(100), Offset: r.Int64N(1e6)}
		}
		if r.IntN(2) == 0 {
			res.SourceTimestamp = r.Int64()
			for range r.IntN(3) {
				res.SourceHeaders = append(res.SourceHeaders, Header{text(), text()})
			}
		}
		cases = append(cases, res)
	}
	return cases
}

// EncodeJSON writes what encoding/json writes, byte for byte: the results
// contract is JSON that other programs parse.
func TestEncodeJSONIsEncodingJSON(t *testing.T) {
	for _, r := range encodeJSONCases() {
		checkEncodeJSON(t, r)
	}
}

// A chunk's results written one after another (jsonMiddles, as the
// publishing lanes write them) are each what encoding/json writes: a
// result that differs from the one before in any one field of the shared
// middle, or in none, or in everything, is written as its own.
func TestJSONMiddlesIsEncodingJSON(t *testing.T) {
	cases := encodeJSONCases()
	changes := []func(r *Result, other *Result){
		func(r, o *Result) {},
		func(r, o *Result) { r.Object = o.Object + "x" },
		func(r, o *Result) { r.Operation = o.Operation + "x" },
		func(r, o *Result) { r.ErrorCode = o.ErrorCode + "x" },
		func(r, o *Result) { r.Error = o.Error + "x" },
		func(r, o *Result) { r.JobID = o.JobID + "x" },
		func(r, o *Result) { r.Attempts = o.Attempts + 1 },
		func(r, o *Result) { r.Source.Topic = o.Source.Topic + "x" },
		func(r, o *Result) { r.Source.Offset, r.Success, r.ID = o.Source.Offset+1, !o.Success, nil },
	}
	var m jsonMiddles
	var b []byte
	prev := cases[1]
	for i, c := range cases {
		for j, change := range changes {
			r := *prev // the shared middle of the one before, but for one field
			change(&r, prev)
			if j == len(changes)-1 && i%2 == 0 {
				r = *c
			}
			want, err := json.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			start := len(b)
			b = m.append(b, &r)
			if got := b[start:]; !bytes.Equal(got, want) {
				t.Fatalf("case %d, change %d: the writer wrote\n%s\nencoding/json:\n%s", i, j, got, want)
			}
			prev = &r
		}
	}
}

func checkEncodeJSON(t *testing.T, r *Result) {
	t.Helper()
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EncodeJSON(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("EncodeJSON(%+v) =\n%s, %v\nencoding/json:\n%s", r, got, err, want)
	}
}

func FuzzEncodeJSON(f *testing.F) {
	for i, s := range resultTexts {
		f.Add(s, resultTexts[(i+1)%len(resultTexts)], int64(i), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64, flag bool) {
		r := &Result{Success: flag, Created: !flag, Object: a, Operation: b, ErrorCode: a + b, Error: b + a, JobID: a,
			Attempts: int(n), Source: Source{Topic: b, Partition: int32(n), Offset: n}}
		if flag {
			r.ID, r.ReplayOf = &a, &Source{Topic: a, Partition: int32(n >> 32), Offset: -n}
			r.SourceTimestamp, r.SourceHeaders = n, []Header{{a, b}}
		}
		checkEncodeJSON(t, r)
	})
}

func BenchmarkEncodeJSON(b *testing.B) {
	id := "001xx000003DGb2AAG"
	for _, bc := range []struct {
		name string
		r    *Result
	}{
		{"success", &Result{Success: true, Created: true, ID: &id, Object: "Account", Operation: "upsert", JobID: "750xx0000000001AAA",
			Attempts: 1, Source: Source{Topic: "crm.accounts", Partition: 3, Offset: 1234567}}},
		{"failure", &Result{Object: "Account", Operation: "upsert", ErrorCode: "INVALID_FIELD",
			Error: "No such column 'Industri' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c'",
			JobID: "750xx0000000001AAA", Attempts: 2, Source: Source{Topic: "crm.accounts", Partition: 3, Offset: 1234567}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := EncodeJSON(bc.r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// recordsDigest is the SHA-256 of the records that publish recordCases,
// as records wrote them before it allocated a chunk's records together.
const recordsDigest = "687f2affa1df74429ebb36dc15fde5b395747a4d70b8b663235e1657cbbf2070"

// The records of results and dead-letter copies keep their bytes: topic,
// key, value, headers and timestamp, for successes, failures, replays of
// dead-letter copies, and copies cut to the limit.
func TestRecordsKeepTheirBytes(t *testing.T) {
	h := sha256.New()
	dump := func(rs []*kgo.Record) {
		for _, r := range rs {
			fmt.Fprintf(h, "%q %q %q %d|", r.Topic, r.Key, r.Value, r.Timestamp.UnixNano())
			for _, hd := range r.Headers {
				fmt.Fprintf(h, "%q=%q ", hd.Key, hd.Value)
			}
			fmt.Fprintln(h)
		}
	}
	outcomes := benchOutcomes(true)[:400]
	big := outcomes[4]
	big.src.Value = bytes.Repeat([]byte("v"), 20<<10)
	big.src.Headers = append(big.src.Headers, event.Header{Key: "big", Value: bytes.Repeat([]byte{1}, 3000)})
	big.result.Error = strings.Repeat("é", 5000)
	for _, limit := range []int{DefaultMaxRecordBytes, 16 << 10} {
		for _, o := range append(outcomes, big) {
			rs, err := o.records(testTopics, nil, false, limit)
			if err != nil {
				t.Fatal(err)
			}
			dump(rs)
			if len(rs) < 2 {
				continue
			}
			dl := rs[1] // replayed: the copy is the source
			replayed := outcome{result: o.result, src: event.Source{Topic: dl.Topic, Partition: 2, Offset: 77, Key: dl.Key, Value: dl.Value,
				Timestamp: dl.Timestamp}}
			for _, hd := range dl.Headers {
				replayed.src.Headers = append(replayed.src.Headers, event.Header{Key: hd.Key, Value: hd.Value})
			}
			rs, err = replayed.records(testTopics, EncodeJSON, true, limit)
			if err != nil {
				t.Fatal(err)
			}
			dump(rs)
		}
	}
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != recordsDigest {
		t.Errorf("records digest %s, want %s", got, recordsDigest)
	}
}

// Records written into a reused arena (one produce call after another, as
// a publishing lane does) have the bytes of records written without one,
// and the arena comes back for the next call.
func TestArenaRecordsKeepTheirBytes(t *testing.T) {
	dump := func(b *strings.Builder, rs []*kgo.Record) {
		for _, r := range rs {
			fmt.Fprintf(b, "%q %q %q|", r.Topic, r.Key, r.Value)
			for _, hd := range r.Headers {
				fmt.Fprintf(b, "%q=%q ", hd.Key, hd.Value)
			}
			b.WriteByte('\n')
		}
	}
	outcomes := benchOutcomes(true)[:2000]
	var want strings.Builder
	for _, o := range outcomes {
		rs, err := o.records(testTopics, nil, false, DefaultMaxRecordBytes)
		if err != nil {
			t.Fatal(err)
		}
		dump(&want, rs)
	}
	arenas := make(recordArenas, keptArenas)
	var got strings.Builder
	var first *recordArena
	for from := 0; from < len(outcomes); from += 700 {
		chunk := outcomes[from:min(from+700, len(outcomes))]
		w := &recordWriter{topics: testTopics, limit: DefaultMaxRecordBytes, left: len(chunk), arena: arenas.get()}
		if first == nil {
			first = w.arena
		} else if w.arena != first {
			t.Fatalf("the arena put back is not the one got")
		}
		var rs []*kgo.Record
		for i := range chunk {
			var err error
			if rs, err = w.add(rs, &chunk[i]); err != nil {
				t.Fatal(err)
			}
		}
		dump(&got, rs)
		arenas.put(w.arena)
		for _, r := range rs { // the results, cleared; dead-letter copies are not the arena's
			if r.Topic == testTopics.Success || r.Topic == testTopics.Failure {
				t.Fatalf("a result put back keeps %q %q", r.Topic, r.Value)
			}
		}
	}
	if got.String() != want.String() {
		t.Errorf("records written into a reused arena differ from records written without one")
	}
}

// The result records of a produce call carry the writer's one clock
// reading, not one franz-go takes for each; a dead-letter copy keeps the
// original record's timestamp.
func TestResultRecordsTakeTheWritersTime(t *testing.T) {
	now := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	orig := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	w := &recordWriter{topics: testTopics, limit: DefaultMaxRecordBytes, left: 2, now: now}
	var rs []*kgo.Record
	for _, ok := range []bool{true, false} {
		o := outcome{result: Result{Success: ok, Object: "Account", Operation: "upsert"},
			src: event.Source{Topic: "t", Offset: 1, Value: []byte("{}"), Timestamp: orig}}
		var err error
		if rs, err = w.add(rs, &o); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rs {
		want := now
		if r.Topic == testTopics.DeadLetter {
			want = orig
		}
		if !r.Timestamp.Equal(want) {
			t.Errorf("record on %s at %v, want %v", r.Topic, r.Timestamp, want)
		}
	}
	if len(rs) != 3 {
		t.Errorf("%d records, want a success, a failure and a dead-letter copy", len(rs))
	}
}
