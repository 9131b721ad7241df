// Package pacer keeps Bulkstream within the org's daily allocations: the
// API requests of the rolling 24 hours (as Salesforce reports them in every
// response's Sforce-Limit-Info and in /limits) and the Bulk API records of
// the rolling 24 hours (150,000,000 by default; counted here, since
// Salesforce reports no such figure). When what is left falls to the
// configured reserve, the pipeline pauses fetching from Kafka and starting
// jobs, and resumes when the allocation returns: nothing is buffered
// without bound and nothing is dropped.
package pacer

import (
	"sync"
	"time"
)

// Reasons for a pause, as the bulkstream_paused metric labels them.
const (
	APIRequests = "api_requests"
	Records     = "records"
)

// Options configure a pacer. A zero request reserve turns the request
// check off (Salesforce's own REQUEST_LIMIT_EXCEEDED still pauses, see
// Exhausted); the record allocation is always checked, a zero record
// reserve pausing only when all of it is used.
type Options struct {
	// RequestReserve is the number of daily API requests to leave to the
	// org's other integrations; the pipeline pauses when fewer remain.
	// RequestReserveRatio is the same as a share of the allocation (0.1
	// keeps 10%); the larger of the two counts.
	RequestReserve      int64
	RequestReserveRatio float64
	// RecordLimit is the org's Bulk API record allocation for a rolling
	// 24 hours (default 150,000,000) and RecordReserve what to leave of it.
	RecordLimit   int64
	RecordReserve int64
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Pacer is safe for concurrent use: the HTTP client reports usage from
// many goroutines, the pipeline asks whether to pause.
type Pacer struct {
	opts Options

	mu       sync.Mutex
	used     int64 // API requests used, as last reported
	max      int64 // the daily allocation, as last reported; 0 until known
	buckets  [24 * 60]int64
	bucketAt [24 * 60]int64 // the minute each bucket counts
}

// New returns a pacer with opts' defaults filled in.
func New(opts Options) *Pacer {
	if opts.RecordLimit <= 0 {
		opts.RecordLimit = 150_000_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pacer{opts: opts}
}

// ObserveUsage records the org's API usage, as Sforce-Limit-Info or
// /limits reports it.
func (p *Pacer) ObserveUsage(used, max int64) {
	p.mu.Lock()
	p.used, p.max = used, max
	p.mu.Unlock()
}

// ObserveRemaining records the org's API usage from /limits' Max and
// Remaining.
func (p *Pacer) ObserveRemaining(max, remaining int64) { p.ObserveUsage(max-remaining, max) }

// Exhausted records a REQUEST_LIMIT_EXCEEDED answer: nothing is left.
func (p *Pacer) Exhausted() {
	p.mu.Lock()
	if p.max > 0 {
		p.used = p.max
	} else {
		p.used, p.max = 1, 1
	}
	p.mu.Unlock()
}

// RecordsSubmitted counts rows uploaded to Salesforce now.
func (p *Pacer) RecordsSubmitted(n int) {
	minute := p.opts.Now().Unix() / 60
	i := minute % int64(len(p.buckets))
	p.mu.Lock()
	if p.bucketAt[i] != minute {
		p.bucketAt[i], p.buckets[i] = minute, 0
	}
	p.buckets[i] += int64(n)
	p.mu.Unlock()
}

// recordsInWindow sums the records of the last 24 hours. The caller holds
// p.mu.
func (p *Pacer) recordsInWindow() int64 {
	now := p.opts.Now().Unix() / 60
	var n int64
	for i, at := range p.bucketAt {
		if at > now-int64(len(p.buckets)) {
			n += p.buckets[i]
		}
	}
	return n
}

// Paused returns why the pipeline must pause now, or "".
func (p *Pacer) Paused() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	reserve := max(p.opts.RequestReserve, int64(p.opts.RequestReserveRatio*float64(p.max)))
	if p.max > 0 && reserve > 0 && p.max-p.used <= reserve {
		return APIRequests
	}
	if p.max > 0 && p.used >= p.max {
		return APIRequests
	}
	if p.opts.RecordLimit-p.recordsInWindow() <= p.opts.RecordReserve {
		return Records
	}
	return ""
}

// Records returns the records submitted in the last 24 hours, as this
// pacer counted them, and the allocation it paces against
// (Options.RecordLimit).
func (p *Pacer) Records() (used, limit int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recordsInWindow(), p.opts.RecordLimit
}

// Usage returns the API requests used and the allocation, as last
// reported (max 0 until known).
func (p *Pacer) Usage() (used, max int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used, p.max
}
