package bulkemu

import (
	"slices"
	"testing"
	"time"
)

// TestLockKeysNameOneRecord checks that a lock key tells records apart by
// object, field and value, boundaries included, and that the same record
// always has the same key.
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
	}
	seen := map[lockKey]int{}
	for i, r := range records {
		k := l.lockKeyOf(r[0], r[1], r[2])
		if k != l.lockKeyOf(r[0], r[1], r[2]) {
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
	k1, k2, k3 := l.lockKeyOf("Account", "Id", "1"), l.lockKeyOf("Account", "Id", "2"), l.lockKeyOf("Account", "Id", "3")
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
