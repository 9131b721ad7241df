package bulkemu

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestArenaGivesBackWhatItWasGiven puts encodings of every shape (no
// values, an empty value, values whose length takes one, two and three
// bytes, fields whose index takes one, two and three, the last field an
// object can have, a record larger than a page)
// and reads each value back by field, absent fields as null.
func TestArenaGivesBackWhatItWasGiven(t *testing.T) {
	records := [][]fieldValue{
		nil,
		{{field: 0, value: ""}},
		{{field: 1, value: "a"}, {field: 3, value: strings.Repeat("b", 127)}, {field: 4, value: strings.Repeat("c", 128)}},
		{{field: 2, value: strings.Repeat("d", 20_000)}, {field: 127, value: "one byte"}, {field: 128, value: "two"}, {field: 65535, value: "last"}},
		{{field: 5, value: strings.Repeat("e", arenaPage+1)}},
		{{field: 6, value: "after the large one"}},
	}
	var a valueArena
	refs := make([]valuesRef, len(records))
	for i, vals := range records {
		refs[i] = a.put(vals)
	}
	for i, vals := range records {
		enc := a.encoding(refs[i])
		if got := decodeValues(enc, nil); !slices.Equal(got, vals) {
			t.Errorf("record %d decodes to %d values, want %v", i, len(got), len(vals))
		}
		for f := range 8 {
			want, wantOK := "", false
			for _, v := range vals {
				if int(v.field) == f {
					want, wantOK = v.value, true
				}
			}
			if got, ok := valueOf(enc, f); got != want || ok != wantOK {
				t.Errorf("record %d field %d: %.10q, %v; want %.10q, %v", i, f, got, ok, want, wantOK)
			}
		}
	}
	for f, want := range map[int]string{127: "one byte", 128: "two", 65535: "last"} {
		if got, ok := valueOf(a.encoding(refs[3]), f); got != want || !ok {
			t.Errorf("field %d: %q, %v", f, got, ok)
		}
	}
	if got, ok := valueOf(a.encoding(refs[3]), 129); ok {
		t.Errorf("field 129: %q, present", got)
	}
	if large := a.pages[refs[4].page]; cap(large) < arenaPage+1 || refs[5].page == refs[4].page {
		t.Errorf("the record larger than a page shares page %d (capacity %d) with the next", refs[4].page, cap(large))
	}
}

// A value of a field whose index is under 128 costs its record two bytes
// besides its own: its field's index and its length take one each.
func TestArenaValueOfASmallFieldCostsTwoBytes(t *testing.T) {
	var a valueArena
	if ref := a.put([]fieldValue{{field: 5, value: "ab"}, {field: 127, value: "c"}}); ref.n != 7 {
		t.Fatalf("encoding of %d bytes, want 7", ref.n)
	}
}

// TestArenaNeverRewritesAValueItGaveOut keeps the strings the arena
// returned while the first page grows by copying, new pages are added and
// the table compacts its arena, and checks that each still reads as it did:
// the strings point into the arena's pages, so a byte written twice would
// change a value some caller holds.
func TestArenaNeverRewritesAValueItGaveOut(t *testing.T) {
	st := newStore(DefaultSchema())
	acc := st.schema.Object("Account")
	tab := st.tables[acc]
	name := acc.Field("Name")
	type heldValue struct{ got, want string } // read from the arena; what it was written as
	var held []heldValue
	grown, compacted := false, false
	for i := range 20_000 {
		v := fmt.Sprintf("Account %06d %s", i, strings.Repeat("x", i%300))
		idx := tab.add(row{})
		tab.setValues(idx, []fieldValue{{field: uint16(name.index), value: v}})
		// Each record changes once, to a shorter value, so that most of
		// the arena is garbage and the table compacts it from time to time.
		pages := len(tab.arena.pages)
		v2 := fmt.Sprintf("R%06d", i)
		tab.setValues(idx, []fieldValue{{field: uint16(name.index), value: v2}})
		grown = grown || len(tab.arena.pages) > 1
		compacted = compacted || len(tab.arena.pages) < pages
		got, ok := tab.value(idx, name)
		if !ok || got != v2 {
			t.Fatalf("record %d reads %q, %v; want %q", idx, got, ok, v2)
		}
		held = append(held, heldValue{got, strings.Clone(v2)})
	}
	if !grown || !compacted {
		t.Fatalf("the arena grew to more pages: %v, was compacted: %v; the test wants both", grown, compacted)
	}
	for _, h := range held {
		if h.got != h.want {
			t.Fatalf("a value read as %q now reads %q", h.want, h.got)
		}
	}
}

// TestArenaGarbageStaysBounded changes records many times and checks, after
// each change, that the encodings no record uses take no more room than
// those records use (or a page), and that each record still has its last
// values.
func TestArenaGarbageStaysBounded(t *testing.T) {
	st := newStore(DefaultSchema())
	acc := st.schema.Object("Account")
	tab := st.tables[acc]
	name, city := acc.Field("Name"), acc.Field("BillingCity")
	const records = 1000
	for range records {
		tab.add(row{})
	}
	for round := range 50 {
		for i := range int32(records) {
			vals := []fieldValue{{field: uint16(name.index), value: fmt.Sprintf("Account %d round %d %s", i, round, strings.Repeat("y", 100))}}
			if round%2 == 0 {
				vals = append(vals, fieldValue{field: uint16(city.index), value: "Springfield"})
			}
			tab.setValues(i, vals)
			if a := tab.arena; a.garbage > max(a.used, arenaPage) {
				t.Fatalf("round %d record %d: %d bytes of garbage for %d used", round, i, a.garbage, a.used)
			}
		}
	}
	for i := range int32(records) {
		if v, ok := tab.value(i, name); !ok || !strings.HasPrefix(v, fmt.Sprintf("Account %d round 49 ", i)) {
			t.Fatalf("record %d: Name %.30q, %v", i, v, ok)
		}
		if v, ok := tab.value(i, city); ok {
			t.Fatalf("record %d: BillingCity %q, want null", i, v)
		}
	}
	used := 0
	for i := range int32(records) {
		used += len(tab.arena.encoding(tab.row(i).vals))
	}
	if used != tab.arena.used {
		t.Fatalf("the arena counts %d bytes used; the records use %d", tab.arena.used, used)
	}
}

// TestSetValueKeepsFieldOrder sets, replaces and removes values and checks
// that the slice stays sorted by field with one value a field.
func TestSetValueKeepsFieldOrder(t *testing.T) {
	s := func(v string) *string { return &v }
	var vals []fieldValue
	vals = setValue(vals, 5, s("e"))
	vals = setValue(vals, 1, s("a"))
	vals = setValue(vals, 3, s("c"))
	vals = setValue(vals, 3, s("C"))
	vals = setValue(vals, 9, nil) // null of a null field: nothing to remove
	vals = setValue(vals, 1, nil)
	want := []fieldValue{{3, "C"}, {5, "e"}}
	if !slices.Equal(vals, want) {
		t.Fatalf("got %v, want %v", vals, want)
	}
}

// TestAppendFoldedCellFoldsAsFoldKey checks the folded key of cells, plain,
// quoted with doubled quotes, not ASCII, and plain after others (appended
// in place), against foldKey of their value.
func TestAppendFoldedCellFoldsAsFoldKey(t *testing.T) {
	data := []byte(`Ext-1,"Q""uoted-A",ÉTÉ-Ω,Ext-B2`)
	r := newCSVReader(data, ',', false)
	cells, _, _, err := r.nextCells(nil)
	if err != nil || len(cells) != 4 {
		t.Fatalf("cells %v, %v", cells, err)
	}
	var dst []byte
	want := ""
	for _, c := range cells {
		dst = appendFoldedCell(dst, data, c)
		want += foldKey(c.value(data))
	}
	if string(dst) != want || want != `ext-1q"uoted-aété-ωext-b2` {
		t.Fatalf("folded %q, want %q", dst, want)
	}
}

// TestSortByFieldAgainstSlicesSort sorts values by field as slices.SortFunc
// does, on rows in order, reversed, shuffled and with one value or none.
func TestSortByFieldAgainstSlicesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 40; n++ {
		for _, shape := range []string{"sorted", "reversed", "shuffled"} {
			vals := make([]fieldValue, n)
			for i := range vals {
				vals[i] = fieldValue{field: uint16(3 * i), value: fmt.Sprint(i)}
			}
			switch shape {
			case "reversed":
				slices.Reverse(vals)
			case "shuffled":
				rng.Shuffle(n, func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
			}
			want := slices.Clone(vals)
			slices.SortFunc(want, func(a, b fieldValue) int { return int(a.field) - int(b.field) })
			sortByField(vals)
			if !slices.Equal(vals, want) {
				t.Fatalf("%d %s: %v, want %v", n, shape, vals, want)
			}
		}
	}
}

// change.fold folds as foldKey does, into its buffer: an ASCII value costs
// no allocation, which an insert's unique checks and indexing make twice a
// row; the upsert key the caller folded is not folded again.
func TestChangeFoldFoldsWithoutAllocating(t *testing.T) {
	var ch change
	for _, v := range []string{"Ext-1", "already-lower", "", "ÉTÉ-Ω", "İstanbul", "MIXED-case-42"} {
		if got := ch.fold(v); got != foldKey(v) {
			t.Fatalf("fold(%q) = %q, want %q", v, got, foldKey(v))
		}
	}
	ch.fold("warm up the buffer to its size")
	if n := testing.AllocsPerRun(100, func() { ch.fold("Ext-000001-ABC") }); n != 0 {
		t.Fatalf("%v allocations a fold of an ASCII value", n)
	}
	ch.key, ch.keyFolded = "KEY-1", "folded by the caller"
	if got := ch.fold("KEY-1"); got != "folded by the caller" {
		t.Fatalf("the upsert key folded again: %q", got)
	}
}
