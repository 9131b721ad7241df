package pipeline

import (
	"context"
	"slices"
	"time"
)

// Job slots. MaxJobsInFlight bounds the jobs that run at once. A job
// runner waiting out the back-off before its next round (rows to retry: a
// lock, a parent still on its way) runs no job, so it leaves its slot to
// other buffers and takes one again, before any new buffer, when the
// back-off is over; its records stay held meanwhile. Without that, job
// runners waiting for parents could hold every slot while the buffer of
// those parents waits for one. The main loop owns the counts (inFlight,
// napping, waking); a job runner owns its jobSlot.

// jobSlot is a job runner's side of its slot.
type jobSlot struct {
	// napping: the runner gave its slot up (told the main loop) and has
	// not been given one back.
	napping bool
	// waker is set while napping once the runner asked for a slot back:
	// the main loop closes it when it grants one.
	waker chan struct{}
}

// nap waits d between the rounds of a job without holding its slot, then
// waits for a slot. It reports whether it got one; when ctx ends first, s
// says what the main loop is to undo (see napEnded).
func (p *Pipeline) nap(ctx context.Context, s *jobSlot, d time.Duration) bool {
	p.report(completion{nap: true})
	s.napping = true
	if !sleep(ctx, d) {
		return false
	}
	w := make(chan struct{})
	select {
	case p.wake <- w:
	case <-ctx.Done():
		return false
	case <-p.loopEnded:
		return false
	}
	s.waker = w
	select {
	case <-w:
		s.napping, s.waker = false, nil
		return true
	case <-ctx.Done():
		return false
	}
}

// napStarted counts a job runner that gave its slot up.
func (p *Pipeline) napStarted() {
	p.napping++
	p.addInFlight(-1)
}

// grantWaking gives free slots to the job runners that asked for theirs
// back, first come first served, before launch gives any to a new buffer.
func (p *Pipeline) grantWaking() {
	for len(p.waking) > 0 && p.inFlight < p.opts.MaxJobsInFlight {
		close(p.waking[0])
		p.waking[0] = nil
		p.waking = p.waking[1:]
		p.napping--
		p.addInFlight(1)
	}
}

// napEnded settles the slot of a job runner that ended while napping
// (its context ended): waker is the channel it asked for a slot with, or
// nil if it had not asked yet.
func (p *Pipeline) napEnded(waker chan struct{}) {
	if waker == nil {
		p.napping--
		return
	}
	if i := slices.Index(p.waking, waker); i >= 0 {
		p.waking = slices.Delete(p.waking, i, i+1)
		p.napping--
		return
	}
	p.addInFlight(-1) // granted as it gave up
}

// addInFlight changes the count of jobs running and what reports it.
func (p *Pipeline) addInFlight(n int) {
	p.inFlight += n
	p.count(func(s *Stats) { s.InFlight += int64(n) })
	p.opts.Metrics.JobsInFlight.Set(float64(p.inFlight))
}
