package bulkemu

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// TestUniqueIndexTellsValuesOfOneHashApart checks the index's answer to two
// values of one hash half, which 32 bits make rare: the test makes one by
// filing a record under the hash of a value it does not hold.
func TestUniqueIndexTellsValuesOfOneHashApart(t *testing.T) {
	st := newStore(DefaultSchema())
	acc := st.schema.Object("Account")
	tab := st.tables[acc]
	ext := acc.Field("External_Id__c")
	u := tab.uniqueIndexOf(ext)
	add := func(v string) int32 {
		idx := tab.add(row{})
		tab.setValues(idx, []fieldValue{{field: uint16(ext.index), value: v}})
		u.put(tab, foldKey(v), idx)
		return idx
	}
	a := add("A-1")
	u.put(tab, "b-2", a) // a, which holds a-1, is now also under b-2's hash
	b := add("B-2")
	if u.n != 3 {
		t.Fatalf("%d slots in use, want 3 (a-1, a under b-2's hash, b-2)", u.n)
	}
	for v, want := range map[string]int32{"a-1": a, "b-2": b} {
		if idx, ok := u.get(tab, v); !ok || idx != want {
			t.Errorf("get(%q) = %d, %v; want %d", v, idx, ok, want)
		}
	}
	u.remove("b-2", b)
	if idx, ok := u.get(tab, "b-2"); ok {
		t.Errorf("b-2 removed, still found at %d", idx)
	}
	if idx, ok := u.get(tab, "a-1"); !ok || idx != a {
		t.Errorf("get(a-1) = %d, %v after b-2 was removed", idx, ok)
	}
	if _, ok := u.get(tab, "c-3"); ok {
		t.Error("found c-3, never indexed")
	}
	// Filing a value again, at its record or at another that holds it
	// too, replaces its slot.
	n := u.n
	u.put(tab, "a-1", a)
	c := add("a-1")
	if idx, ok := u.get(tab, "a-1"); !ok || idx != c || u.n != n {
		t.Errorf("a-1 filed again at %d: get = %d, %v, %d slots in use; want %d, true, %d", c, idx, ok, u.n, c, n)
	}
}

// TestUniqueIndexAgainstAModel gives records values, takes them away and
// moves them from record to record at random, against a map of the values
// records hold, and checks after each step that the index finds every value
// a record holds, at its record, and no other: through the index's growth
// from 64 slots and the removals that move slots back across the end of
// the table.
func TestUniqueIndexAgainstAModel(t *testing.T) {
	st := newStore(DefaultSchema())
	acc := st.schema.Object("Account")
	tab := st.tables[acc]
	ext := acc.Field("External_Id__c")
	u := tab.uniqueIndexOf(ext)
	const records, values = 300, 600
	held := map[string]int32{} // folded value → record
	of := map[int32]string{}   // record → its value
	for range records {
		tab.add(row{})
	}
	names := make([]string, values)
	for k := range names {
		names[k] = fmt.Sprintf("v-%d", k)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for step := range 20_000 {
		r := int32(rng.IntN(records))
		if old, ok := of[r]; ok {
			u.remove(old, r)
			delete(held, old)
			delete(of, r)
			tab.setValues(r, nil)
		}
		if v := names[rng.IntN(values)]; rng.IntN(3) > 0 {
			if _, taken := held[v]; !taken {
				tab.setValues(r, []fieldValue{{field: uint16(ext.index), value: v}})
				u.put(tab, v, r)
				held[v], of[r] = r, v
			}
		}
		if u.n != len(held) {
			t.Fatalf("step %d: %d slots in use for %d values", step, u.n, len(held))
		}
		for _, v := range names {
			idx, ok := u.get(tab, v)
			if want, wantOK := held[v]; ok != wantOK || idx != want && ok {
				t.Fatalf("step %d: get(%q) = %d, %v; want %d, %v", step, v, idx, ok, want, wantOK)
			}
		}
	}
	if len(u.slots) < 256 {
		t.Fatalf("%d slots: the index never grew past its first sizes", len(u.slots))
	}
}

// An update that changes a record's two unique values frees their old
// values (in the indexes too, where a stale entry would only slow look-ups)
// and takes the new ones.
func TestUpdateMovesEachUniqueValue(t *testing.T) {
	schema := schemaOf(t, "objects:\n  - name: Account\n    fields:\n      - {name: Code__c, type: string, unique: true}\n")
	o := newOrg(t, Options{Schema: schema})
	account := schema.Object("Account")
	if _, info := o.load(`{"object":"Account","operation":"insert"}`, "External_Id__c,Name,Code__c\nE-1,A,C-1\n"); info["numberRecordsFailed"] != 0.0 {
		t.Fatalf("insert: %v", info)
	}
	if _, info := o.load(`{"object":"Account","operation":"update"}`, "Id,External_Id__c,Code__c\n"+makeID(account.KeyPrefix, 1)+",E-2,C-2\n"); info["numberRecordsFailed"] != 0.0 {
		t.Fatalf("update: %v", info)
	}
	table := o.emu.store.tables[account]
	for _, f := range []string{"External_Id__c", "Code__c"} {
		if n := table.uniqueIndexOf(account.Field(f)).n; n != 1 {
			t.Fatalf("the %s index files %d values of one record", f, n)
		}
	}
	id, _ := o.load(`{"object":"Account","operation":"insert"}`, "Name,External_Id__c,Code__c\nfreed,e-1,c-1\ntaken,E-3,c-2\nkept,e-2,C-9\n")
	f := failedRows(t, o, id, "Name")
	if _, ok := f["freed"]; ok || len(f) != 2 || !strings.Contains(f["taken"], "DUPLICATE_VALUE:duplicate value found: Code__c") || !strings.Contains(f["kept"], "DUPLICATE_VALUE:duplicate value found: External_Id__c") {
		t.Fatalf("failed rows %v, want taken (Code__c) and kept (External_Id__c)", f)
	}
}

// TestUpsertChecksTheOtherUniqueFields upserts on External_Id__c rows whose
// Code__c, another unique field, is taken: upsert skips only the key in
// checkUnique (its look-up answered for it), so a new record's and an
// existing record's clash on Code__c still fail, and a record keeps its own.
func TestUpsertChecksTheOtherUniqueFields(t *testing.T) {
	schema := schemaOf(t, "objects:\n  - name: Account\n    fields:\n      - {name: Code__c, type: string, unique: true}\n")
	o := newOrg(t, Options{Schema: schema})
	if _, info := o.load(`{"object":"Account","operation":"insert"}`, "External_Id__c,Name,Code__c\nE-1,A,C-1\nE-2,B,C-2\n"); info["numberRecordsFailed"] != 0.0 {
		t.Fatalf("insert: %v", info)
	}
	id, _ := o.load(`{"object":"Account","operation":"upsert","externalIdFieldName":"External_Id__c"}`,
		"External_Id__c,Name,Code__c\nE-3,newClash,c-1\nE-2,oldClash,C-1\nE-1,oldSelf,c-1\nE-4,newFree,C-4\n")
	f := failedRows(t, o, id, "Name")
	if len(f) != 2 || !strings.Contains(f["newClash"], "DUPLICATE_VALUE:duplicate value found: Code__c") || !strings.Contains(f["oldClash"], "DUPLICATE_VALUE:duplicate value found: Code__c") {
		t.Fatalf("failed rows %v, want newClash and oldClash (Code__c)", f)
	}
}

// TestCompactionLeavesNoStringInScratch updates records through the
// table's scratch slice until the table compacts its arena, and checks that
// the scratch slice then holds no value up to its capacity: a string left
// there would keep a page of the old arena alive until another record's
// values overwrote it. The first update is of a record of four values, the
// others of records of one, so that the scratch slice holds three of the
// first record's values past its length.
func TestCompactionLeavesNoStringInScratch(t *testing.T) {
	st := newStore(DefaultSchema())
	acc := st.schema.Object("Account")
	tab := st.tables[acc]
	name, city, industry, phone := acc.Field("Name"), acc.Field("BillingCity"), acc.Field("Industry"), acc.Field("Phone")
	insert := func(set ...fieldChange) int32 {
		out := st.insert(tab, &change{set: set}, 0, nil)
		if out.err != nil {
			t.Fatal(out.err)
		}
		return out.rec
	}
	update := func(idx int32, v string) {
		if out := st.update(tab, idx, &change{set: []fieldChange{{field: name, value: v}}}, 0, nil); out.err != nil {
			t.Fatal(out.err)
		}
	}
	first := insert(fieldChange{field: name, value: "First"}, fieldChange{field: city, value: "Springfield"},
		fieldChange{field: industry, value: "Energy"}, fieldChange{field: phone, value: "+1 555 0100"})
	var others []int32
	for i := range 2000 {
		others = append(others, insert(fieldChange{field: name, value: fmt.Sprintf("Account %d %s", i, strings.Repeat("n", 200))}))
	}
	update(first, "First, renamed")
	for _, idx := range others {
		garbage := tab.arena.garbage
		update(idx, fmt.Sprintf("A%d", idx))
		if tab.arena.garbage >= garbage {
			continue // not compacted
		}
		if len(tab.scratch) != 1 || cap(tab.scratch) < 4 {
			t.Fatalf("scratch has length %d and capacity %d; the test wants 1 and at least 4", len(tab.scratch), cap(tab.scratch))
		}
		for k, v := range tab.scratch[:cap(tab.scratch)] {
			if v != (fieldValue{}) {
				t.Fatalf("after compaction, scratch[%d] (length %d, capacity %d) holds %v", k, len(tab.scratch), cap(tab.scratch), v)
			}
		}
		return
	}
	t.Fatal("the table never compacted its arena; the test wants it to")
}

// A record takes 32 bytes besides its values (see row).
func TestRecordTakes32Bytes(t *testing.T) {
	if size := unsafe.Sizeof(row{}); size != 32 {
		t.Fatalf("row takes %d bytes", size)
	}
}
