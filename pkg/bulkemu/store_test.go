package bulkemu

import (
	"hash/maphash"
	"testing"
)

// TestUniqueIndexTellsValuesOfOneHashApart checks the index's answer to two
// values of one hash, which 64-bit hashes almost never make: the test makes
// one by filing a record under the hash of a value it does not hold.
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
	u.rows[maphash.String(u.seed, "b-2")] = a // "b-2" now has a-1's hash
	b := add("B-2")
	if len(u.clashes) != 1 {
		t.Fatalf("clashes %v, want b-2's", u.clashes)
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
}
