package bulkemu

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLockKeysNameOneRecord checks that a lock key tells records apart by
// object, field and value, boundaries included, and that the same record
// always has the same key. The last two records swap the text of their
// kinds and values: a key that added one hash of each, both of one seed,
// gave them one key whatever the seed.
func TestLockKeysNameOneRecord(t *testing.T) {
	l := newRowLocks()
	records := [][3]string{
		{"Account", "Id", "001000000000001"},
		{"Account", "Id", "001000000000002"},
		{"Contact", "Id", "001000000000001"},
		{"Account", "External_Id__c", "001000000000001"},
		{"Account", "External_Id__c", "a"},
		{"Account", "External_Id__", "ca"},
		{"Account", "External_Id__c", ""},
		{"Account", "External_Id__c\x00", ""},
		{"AccountI", "d", "001000000000001"},
		{"Account", "Id", "Contact\x00Id"},
		{"Contact", "Id", "Account\x00Id"},
	}
	seen := map[lockKey]int{}
	for i, r := range records {
		k := l.lockKeyOf(l.lockKind(r[0], r[1]), r[2])
		if k != l.lockKeyOf(l.lockKind(r[0], r[1]), r[2]) {
			t.Fatalf("%v: two keys", r)
		}
		if j, ok := seen[k]; ok {
			t.Fatalf("%v and %v share a key", records[j], r)
		}
		seen[k] = i
	}
}

// TestRowLocksExclusive checks that a lock one owner holds is missed by
// another until released, that an owner's release leaves the locks it
// missed to their holder, and that locks of other keys are free.
func TestRowLocksExclusive(t *testing.T) {
	l := newRowLocks()
	a, b := l.newOwner(), l.newOwner()
	id := l.lockKind("Account", "Id")
	k1, k2, k3 := l.lockKeyOf(id, "1"), l.lockKeyOf(id, "2"), l.lockKeyOf(id, "3")
	sorted := func(keys ...lockKey) []lockKey { slices.Sort(keys); return keys }

	held := sorted(k1, k2)
	if missed := l.acquire(a, held, 0); missed != nil {
		t.Fatalf("first owner missed %v", missed)
	}
	want := sorted(k2, k3)
	missed := l.acquire(b, want, 5*time.Millisecond)
	if len(missed) != 1 || !missed[k2] {
		t.Fatalf("second owner missed %v, want only the shared key", missed)
	}
	l.release(b, want, missed)
	if got := l.acquire(b, sorted(k2), 0); !got[k2] {
		t.Fatal("the second owner's release freed a lock the first holds")
	}
	l.release(a, held, nil)
	if got := l.acquire(b, sorted(k1, k2), 0); got != nil {
		t.Fatalf("after release, missed %v", got)
	}
	l.release(b, sorted(k1, k2), nil)
	l.release(b, sorted(k3), nil)
	if len(l.held) != 0 {
		t.Fatalf("%d locks held after every release", len(l.held))
	}
}

// Rows that touch one Account lock it by the same key whichever way they
// name it: by its Id in an update (18 characters), a child's reference
// (15) or a child's Account.Id (18, case kept), by its external id in an upsert (folded by scan) or a child's
// relationship column (folded here); rows naming another Account do not.
func TestRowsNamingOneRecordShareItsLock(t *testing.T) {
	e := New(Options{})
	defer e.Close()
	account, contact := e.schema.Object("Account"), e.schema.Object("Contact")
	id := makeID(account.KeyPrefix, 7)
	keys := func(j *job, header string, row []string, scanKey string) []lockKey {
		t.Helper()
		cols, err := resolveHeader(e.schema, j.object, j.operation, strings.Split(header, ","))
		if err != nil {
			t.Fatal(err)
		}
		keyCol := upsertKeyColumn(j, cols)
		b := batch{e: e, j: j, cols: cols, keyCol: keyCol, lockCols: e.lockColumns(j, cols, keyCol), keys: []string{scanKey}}
		return b.lockKeys(0, row, nil)
	}
	update := &job{object: account, operation: "update"}
	upsert := &job{object: account, operation: "upsert", externalID: account.Field("External_Id__c")}
	child := &job{object: contact, operation: "insert"}

	byID := keys(update, "Id,Name", []string{id, "A"}, "")
	byReference := keys(child, "LastName,AccountId", []string{"C", id[:15]}, "")
	byIDRelationship := keys(child, "LastName,Account.Id", []string{"C", id}, "")
	byKey := keys(upsert, "External_Id__c,Name", []string{"Ext-7", "A"}, "ext-7")
	byRelationship := keys(child, "LastName,Account.External_Id__c", []string{"C", "EXT-7"}, "")
	other := append(keys(child, "LastName,AccountId", []string{"C", makeID(account.KeyPrefix, 8)}, ""),
		keys(child, "LastName,Account.External_Id__c", []string{"C", "Ext-8"}, "")...)
	if len(byID) != 1 || !slices.Equal(byID, byReference) || !slices.Equal(byID, byIDRelationship) {
		t.Fatalf("by Id %v, by reference %v, by the relationship's Id %v", byID, byReference, byIDRelationship)
	}
	if len(byKey) != 1 || !slices.Equal(byKey, byRelationship) {
		t.Fatalf("by external id %v, by relationship %v", byKey, byRelationship)
	}
	if len(other) != 2 || slices.Contains(other, byID[0]) || slices.Contains(other, byKey[0]) || byID[0] == byKey[0] {
		t.Fatalf("another Account's keys %v share one of %v, %v", other, byID, byKey)
	}
}
