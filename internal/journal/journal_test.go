package journal

import (
	"reflect"
	"testing"
)

func TestRangesAndEntries(t *testing.T) {
	got := Ranges([]int64{7, 3, 4, 5, 9, 3, 10, 1})
	want := [][2]int64{{1, 1}, {3, 5}, {7, 7}, {9, 10}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Ranges = %v, want %v", got, want)
	}
	e := Entry{JobID: "7508c0000000001AAA", Topic: "crm.accounts", Partition: 2, Offsets: got}
	for off, in := range map[int64]bool{1: true, 2: false, 4: true, 8: false, 10: true, 11: false} {
		if e.Contains(off) != in {
			t.Errorf("Contains(%d) = %v", off, !in)
		}
	}
	var all []int64
	e.Each(func(o int64) { all = append(all, o) })
	if !reflect.DeepEqual(all, []int64{1, 3, 4, 5, 7, 9, 10}) {
		t.Errorf("Each gave %v", all)
	}
	if k := string(e.Key()); k != "7508c0000000001AAA/crm.accounts/2" {
		t.Errorf("key %s", k)
	}
	nojob := Entry{Topic: "t", Partition: 0, Offsets: [][2]int64{{42, 43}}}
	if k := string(nojob.Key()); k != "nojob-42/t/0" {
		t.Errorf("key of results without a job: %s", k)
	}
}
