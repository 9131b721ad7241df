package harness

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Want is what a run must end with.
type Want struct {
	// Events are every source event, each with the Name its row carries.
	Events map[Source]string
	// Bad are the events that must fail, each with a check of its failure
	// result (nil accepts any failure). Every other event must succeed.
	Bad map[Source]func(Result) error
}

// shown is how many offenders a breach lists.
const shown = 5

// Check holds the results and the org's Accounts (by Name) to want: every
// event has exactly one result; no good event failed and every bad one
// failed as its check wants; every event that succeeded has exactly one row
// in the org, none that failed has one, and the org has no row that is not
// from an event. It reports each breach with figures and the first
// offenders through t.Errorf, and returns whether everything held.
func Check(t testing.TB, want Want, results []Result, org map[string]int) bool {
	t.Helper()
	ok := true
	breach := func(format string, args ...any) {
		t.Helper()
		ok = false
		t.Errorf(format, args...)
	}

	bySource := map[Source][]Result{}
	for _, r := range results {
		bySource[r.Source] = append(bySource[r.Source], r)
	}
	var none, several, unknown []string
	succeeded := map[Source]bool{}
	failedByCode := map[string]int{}
	var goodFailed, badWrong []string
	for _, src := range sortedSources(want.Events) {
		rs := bySource[src]
		switch {
		case len(rs) == 0:
			none = append(none, src.String())
			continue
		case len(rs) > 1:
			several = append(several, fmt.Sprintf("%s has %d: %v", src, len(rs), rs))
		}
		r := rs[0]
		succeeded[src] = r.Success
		check, bad := want.Bad[src]
		switch {
		case !bad && !r.Success:
			failedByCode[r.ErrorCode]++
			goodFailed = append(goodFailed, r.String())
		case bad && r.Success:
			badWrong = append(badWrong, r.String()+", but it must fail")
		case bad && check != nil:
			if err := check(r); err != nil {
				badWrong = append(badWrong, fmt.Sprintf("%v: %v", r, err))
			}
		}
	}
	for src, rs := range bySource {
		if _, ok := want.Events[src]; !ok {
			unknown = append(unknown, rs[0].String())
		}
	}
	with := len(want.Events) - len(none)
	t.Logf("%d events, %d with results (%d result records), %d failed", len(want.Events), with, len(results), countFalse(succeeded))
	if len(none) > 0 {
		breach("%d of %d events have no result; first: %s", len(none), len(want.Events), first(none))
	}
	if len(several) > 0 {
		breach("%d events have more than one result; first: %s", len(several), first(several))
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		breach("%d results for events that were not produced; first: %s", len(unknown), first(unknown))
	}
	if len(goodFailed) > 0 {
		breach("%d good events reported failed (by error code: %v); first: %s", len(goodFailed), failedByCode, first(goodFailed))
	}
	if len(badWrong) > 0 {
		breach("%d of %d bad events did not fail as they must: %s", len(badWrong), len(want.Bad), first(badWrong))
	}

	rows := 0
	for _, n := range org {
		rows += n
	}
	names := map[string]Source{}
	var dups, missing, failedWritten []string
	extra := 0
	for _, src := range sortedSources(want.Events) {
		name := want.Events[src]
		names[name] = src
		n := org[name]
		success, hasResult := succeeded[src]
		switch {
		case n > 1:
			extra += n - 1
			dups = append(dups, fmt.Sprintf("%s (%s) ×%d", name, src, n))
		case n == 0 && success:
			missing = append(missing, fmt.Sprintf("%s (%s)", name, src))
		case n == 1 && hasResult && !success:
			failedWritten = append(failedWritten, fmt.Sprintf("%s: %v", name, bySource[src][0]))
		}
	}
	var foreign []string
	for name := range org {
		if _, ok := names[name]; !ok {
			foreign = append(foreign, name)
		}
	}
	slices.Sort(foreign)
	t.Logf("the org has %d Account rows for %d events (%d succeeded)", rows, len(want.Events), len(succeeded)-countFalse(succeeded))
	if len(dups) > 0 {
		breach("the org has %d rows for %d events: %d events written more than once (%d extra rows); first: %s", rows, len(want.Events), len(dups), extra, first(dups))
	}
	if len(missing) > 0 {
		breach("%d events reported successful have no row in the org; first: %s", len(missing), first(missing))
	}
	if len(failedWritten) > 0 {
		breach("%d events reported failed were written to the org (a replay would write them again); first: %s", len(failedWritten), first(failedWritten))
	}
	if len(foreign) > 0 {
		breach("the org has %d Names that no event carries; first: %s", len(foreign), first(foreign))
	}
	return ok
}

func sortedSources(m map[Source]string) []Source {
	return slices.SortedFunc(maps.Keys(m), func(a, b Source) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Partition, b.Partition); c != 0 {
			return c
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
}

func countFalse(m map[Source]bool) int {
	n := 0
	for _, v := range m {
		if !v {
			n++
		}
	}
	return n
}

// first lists the first few of xs.
func first(xs []string) string {
	if len(xs) > shown {
		return strings.Join(xs[:shown], "; ") + fmt.Sprintf("; … (%d more)", len(xs)-shown)
	}
	return strings.Join(xs, "; ")
}
