package pipeline

import (
	"sync"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// jobPace guesses how long after its close a job of an object and
// operation ends, so that the submitter looks at it then
// (bulk.Client.WaitIngestJobFor) rather than after the wait policy's
// first pause (500 ms by default, five times as long as a job of the
// emulator at full speed runs). Salesforce's dates have whole seconds, so
// the guess is learnt from the connector's own looks, per row of the job:
//
//   - the first job of a key is looked at early from firstExpect on, and
//     sets the guess to three quarters of what it took;
//   - a wait without an early look (a guess past the policy's first
//     pause) sets the guess to half what it took, to look sooner next
//     time;
//   - a job seen done at the early look (before the wait's next look)
//     lowers the guess by a fifth, to find how soon it can be;
//   - a job seen done at a later look ended between that look and the one
//     before, which came a third sooner or more while the looks double (a
//     fifth once the policy's pauses take over): the guess becomes three
//     quarters of what it took.
//
// So the guess settles just above how long jobs take, and costs a look or
// two more than the policy's for about one job in five of a fast org; a
// slow org's jobs, guessed past the first pause, are waited for as the
// policy says, with no look more. It keeps at most maxObjects keys. Safe for
// concurrent use (job runners share it).
type jobPace struct {
	mu     sync.Mutex
	perRow map[paceKey]time.Duration
}

type paceKey struct{ object, operation string }

// expect returns when, from the close, a job of rows rows of the key is
// likely to end: firstExpect when no job of it has ended yet.
func (jp *jobPace) expect(object, operation string, rows int) time.Duration {
	jp.mu.Lock()
	defer jp.mu.Unlock()
	perRow, known := jp.perRow[paceKey{object, operation}]
	switch {
	case known:
	case len(jp.perRow) >= maxObjects:
		return 0 // object names come from the data: past this many, the policy alone
	default:
		return firstExpect
	}
	return perRow * time.Duration(max(rows, 1))
}

// firstExpect is what a job of a key no job of has ended is expected to
// take: its looks come at 50, 75, 125, 225, 425 and 825 ms, then as the
// wait policy says (bulk.Client.WaitIngestJobFor), so the first jobs of a
// fast org are seen done when they are rather than after the policy's
// first pause (500 ms by default, which held them five times as long as
// they ran), at the cost of at most four looks more than the default
// policy's (at once and at 500 ms; more with a longer first pause), once
// a key.
const firstExpect = 50 * time.Millisecond

// observe learns from the wait for a job of rows rows that ended took
// after its close; expect is what the wait was given, first the policy's
// first pause (with expect < first, the wait looked early).
func (jp *jobPace) observe(object, operation string, rows int, expect, first, took time.Duration) {
	rows = max(rows, 1)
	jp.mu.Lock()
	defer jp.mu.Unlock()
	if jp.perRow == nil {
		jp.perRow = map[paceKey]time.Duration{}
	}
	k := paceKey{object, operation}
	guess, known := jp.perRow[k]
	if !known && len(jp.perRow) >= maxObjects {
		return // object names come from the data: past this many, the policy alone
	}
	switch {
	case !known: // the first job of the key, looked at from firstExpect on
		guess = took * 3 / 4 / time.Duration(rows)
	case expect <= 0 || expect >= first: // no early look
		guess = took / 2 / time.Duration(rows)
	case took < expect+max(expect/2, bulk.MinFirstPause): // seen done at the early look, before the next
		// No lower than the earliest look (bulk.MinFirstPause): a job seen
		// done then may have been done much sooner, and a guess far below
		// would take many slow jobs, a look more each, to climb back.
		guess = max(guess*4/5, bulk.MinFirstPause/time.Duration(rows))
	default: // seen done at a later look
		guess = max(guess, took*3/4/time.Duration(rows))
	}
	jp.perRow[k] = max(guess, 1)
}
