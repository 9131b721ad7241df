package batch

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// Policy says when a buffer rolls over into a job: the first limit reached
// wins, and the buffer records which (Reason).
type Policy struct {
	// MaxBytes bounds the CSV upload of one job. Salesforce accepts 100 MB
	// of CSV per job; the estimate used errs on the large side.
	MaxBytes int64
	// MaxRecords bounds the rows of one job (coalesced changes count once).
	MaxRecords int
	// MaxAge bounds how long a change waits in a buffer before its job is
	// submitted.
	MaxAge time.Duration
	// SpillThreshold is the size above which a buffer's data moves from
	// memory to a temporary file in SpillDir (default: the system's).
	SpillThreshold int64
	SpillDir       string
	// ParentOrder sorts a job's rows by their parent reference columns, so
	// that children of one parent fall into the same internal batch of
	// Salesforce and do not contend for the parent's lock across batches.
	ParentOrder bool
	// DisableCoalescing writes every change as its own row, as a naive
	// batcher does. Only for comparisons in tests and benchmarks: two rows
	// of one record in a job race in Salesforce.
	DisableCoalescing bool
}

// Validate checks that the policy can produce jobs.
func (p Policy) Validate() error {
	switch {
	case p.MaxBytes <= 0:
		return errors.New("max bytes must be positive")
	case p.MaxRecords <= 0:
		return errors.New("max records must be positive")
	case p.MaxAge <= 0:
		return errors.New("max age must be positive")
	case p.SpillThreshold < 0:
		return errors.New("spill threshold must not be negative")
	}
	return nil
}

// Batcher routes changes into one open buffer per Key and rolls buffers
// over by the policy. It is owned by one goroutine (the pipeline's batching
// loop); sealed buffers it returns belong to the caller, who must Close
// them.
type Batcher struct {
	policy Policy
	open   map[Key]*Buffer
	// holder says which open buffer holds a record identity, to seal that
	// buffer first when another buffer gets a change to the record. It
	// lacks the rows of unnoted, a buffer opened alone: while no other is
	// open and nothing asks, no other can hold its records, and a stream of
	// one key saves an insertion an event into a table of the buffer's
	// size (note puts them in when that ends).
	holder  map[string]*Buffer
	unnoted *Buffer
	last    *Buffer // the open buffer of the last change, see openBuffer
	// sizes holds the size the last buffer of each key was sealed at: the
	// next one starts at it and a quarter more (buffers sealed by the
	// memory budget vary in size by a few percent; rows no more than
	// MaxRecords) rather than growing to
	// it, which cost a third of batching (slices and maps of a buffer of
	// 150,000 rows growing and copying). After a burst, the first buffer of
	// a lull is as large as the buffers of the burst were; the one after it
	// is the lull's size.
	sizes map[Key]bufferSize
}

// NewBatcher returns a batcher for the policy.
func NewBatcher(p Policy) (*Batcher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.SpillDir == "" {
		p.SpillDir = os.TempDir()
	}
	return &Batcher{policy: p, open: map[Key]*Buffer{}, holder: map[string]*Buffer{}, sizes: map[Key]bufferSize{}}, nil
}

// Add puts c into the buffer of its key; identity names c's record across
// operations ("" when unknown, see Row.Identity). It returns the buffers it
// sealed to make room or to keep order, oldest first, for the caller to
// submit in that order:
//
//   - a buffer of another key that holds c's record (ReasonDependency), so
//     that the record's earlier change is submitted before c;
//   - c's own buffer when c does not fit (ReasonBytes or ReasonRecords); c
//     then starts a new one;
//   - c's own buffer when c fills it to MaxRecords rows (ReasonRecords), so
//     a full buffer goes to a job at once instead of waiting for the next
//     change or for MaxAge.
//
// A change larger than MaxBytes on its own is refused with ErrTooLarge; the
// buffers sealed before are still returned.
func (bt *Batcher) Add(c *event.Change, identity string, now time.Time) (sealed []*Buffer, err error) {
	return bt.AddReferring(c, identity, nil, now)
}

// AddReferring is Add for a change whose row refers to parent records
// (their identities): the buffer it goes into notes them (Buffer.Parents),
// for the caller to run it only after the parents' jobs. A parent in an
// open buffer of c's own key is sealed first (ReasonDependency), so that a
// child never shares a job with its parent, whose rows Salesforce may
// process in any order; a parent in another open buffer stays there (the
// caller waits for it, see Holds).
func (bt *Batcher) AddReferring(c *event.Change, identity string, parents []string, now time.Time) (sealed []*Buffer, err error) {
	return bt.AddKeyed(c, c.RecordKey(), identity, parents, now)
}

// AddKeyed is AddReferring for a caller that has c's RecordKey at hand
// (recordKey), so that it is not made again.
func (bt *Batcher) AddKeyed(c *event.Change, recordKey, identity string, parents []string, now time.Time) (sealed []*Buffer, err error) {
	k := KeyOf(c)
	var held *Buffer // the open buffer holding the record, if any
	// With k's buffer the only one open, no other can hold the record:
	// the lookup is saved (a miss in a large map, 3% of the pipeline's
	// CPU) and the identity noted again.
	alone := len(bt.open) == 1 && bt.last != nil && bt.last.Key == k
	if !alone || len(parents) > 0 {
		bt.note()
	}
	if identity != "" && !alone {
		held = bt.holder[identity]
		if held != nil && held.Key != k {
			sealed = append(sealed, bt.seal(held.Key, ReasonDependency))
			held = nil
		}
	}
	for _, parent := range parents {
		if holder := bt.holder[parent]; holder != nil && holder.Key == k && parent != identity {
			sealed = append(sealed, bt.seal(k, ReasonDependency))
			held = nil
			break
		}
	}
	b := bt.openBuffer(k, now)
	err = b.add(c, recordKey, identity)
	if errors.Is(err, errFull) {
		reason := ReasonBytes
		if len(b.Rows) >= bt.policy.MaxRecords {
			reason = ReasonRecords
		}
		sealed = append(sealed, bt.seal(k, reason))
		b = bt.openBuffer(k, now)
		err = b.add(c, recordKey, identity)
	}
	if err != nil {
		if len(b.Events) == 0 {
			bt.close(k)
			b.Close()
		}
		return sealed, err
	}
	if identity != "" && held != b && b != bt.unnoted {
		bt.holder[identity] = b
	}
	b.referTo(parents)
	if len(b.Rows) >= bt.policy.MaxRecords {
		sealed = append(sealed, bt.seal(k, ReasonRecords))
	}
	return sealed, nil
}

// openBuffer returns the open buffer of k, opening one at now if there is
// none. The last one used is at hand without a map lookup: changes to one
// key nearly always come in runs.
func (bt *Batcher) openBuffer(k Key, now time.Time) *Buffer {
	if b := bt.last; b != nil && b.Key == k {
		return b
	}
	b := bt.open[k]
	if b == nil {
		bt.note() // another buffer opens: the one alone is not any more
		b = newBuffer(k, bt.policy, now, bt.sizes[k])
		if len(bt.open) == 0 {
			bt.unnoted = b
		}
		bt.open[k] = b
	}
	bt.last = b
	return b
}

// note puts the rows of the buffer opened alone in holder: another buffer
// opens, or the caller asks what the open buffers hold.
func (bt *Batcher) note() {
	b := bt.unnoted
	if b == nil {
		return
	}
	bt.unnoted = nil
	for _, r := range b.Rows {
		if r.Identity != "" {
			bt.holder[r.Identity] = b
		}
	}
	for _, id := range b.aliases {
		bt.holder[id] = b
	}
}

// close forgets the open buffer of k.
func (bt *Batcher) close(k Key) {
	if bt.last != nil && bt.last.Key == k {
		bt.last = nil
	}
	if bt.unnoted != nil && bt.unnoted.Key == k {
		bt.unnoted = nil
	}
	delete(bt.open, k)
}

func (bt *Batcher) seal(k Key, reason Reason) *Buffer {
	b := bt.open[k]
	bt.close(k) // if b was alone and unnoted, holder has none of its rows
	bt.sizes[k] = b.size().withRoom(bt.policy.MaxRecords)
	if len(bt.open) == 0 { // the holder's entries were all b's
		clear(bt.holder)
	} else {
		for _, r := range b.Rows {
			if r.Identity != "" && bt.holder[r.Identity] == b {
				delete(bt.holder, r.Identity)
			}
		}
		for _, id := range b.aliases { // the identities holder names b by besides its rows'
			if bt.holder[id] == b {
				delete(bt.holder, id)
			}
		}
	}
	b.sealed, b.Reason = true, reason
	return b
}

// Holds reports whether an open buffer holds a change to the record with
// the given identity.
func (bt *Batcher) Holds(identity string) bool {
	bt.note()
	_, ok := bt.holder[identity]
	return ok
}

// Due seals and returns the buffers older than MaxAge at now, oldest first.
func (bt *Batcher) Due(now time.Time) []*Buffer {
	var out []*Buffer
	for k, b := range bt.open {
		if now.Sub(b.Opened) >= bt.policy.MaxAge {
			out = append(out, bt.seal(k, ReasonAge))
		}
	}
	sortByAge(out)
	return out
}

// NextDue returns when the oldest open buffer reaches MaxAge; ok is false
// when no buffer is open.
func (bt *Batcher) NextDue() (t time.Time, ok bool) {
	for _, b := range bt.open {
		if due := b.Opened.Add(bt.policy.MaxAge); !ok || due.Before(t) {
			t, ok = due, true
		}
	}
	return t, ok
}

// SealFrom seals the open buffers that hold n events or more, oldest
// first, with reason.
func (bt *Batcher) SealFrom(n int, reason Reason) []*Buffer {
	var out []*Buffer
	for k, b := range bt.open {
		if len(b.Events) >= n {
			out = append(out, bt.seal(k, reason))
		}
	}
	sortByAge(out)
	return out
}

// SealAll seals every open buffer with reason, oldest first.
func (bt *Batcher) SealAll(reason Reason) []*Buffer {
	var out []*Buffer
	for k := range bt.open {
		out = append(out, bt.seal(k, reason))
	}
	sortByAge(out)
	return out
}

// Size returns the CSV bytes (an upper bound) of the open buffers.
func (bt *Batcher) Size() int64 {
	var n int64
	for _, b := range bt.open {
		n += b.Size()
	}
	return n
}

// Pending returns the number of events in open buffers.
func (bt *Batcher) Pending() int {
	n := 0
	for _, b := range bt.open {
		n += len(b.Events)
	}
	return n
}

// Drop removes the events of one partition from the open buffers, as when
// the partition is revoked: the new owner reads them again, so they must not
// be submitted here. Buffers are rebuilt from their remaining events.
func (bt *Batcher) Drop(topic string, partition int32) error {
	bt.note()
	for k, b := range bt.open {
		keep := make([]int, 0, len(b.Events))
		for i, ev := range b.Events {
			if ev.Partition != partition || ev.Topic() != topic {
				keep = append(keep, i)
			}
		}
		if len(keep) == len(b.Events) {
			continue
		}
		rebuilt := newBuffer(k, bt.policy, b.Opened, bufferSize{})
		rebuilt.referToAll(b)
		for _, i := range keep {
			c, err := b.Change(i)
			if err == nil {
				r := &b.Rows[b.Events[i].Row]
				err = rebuilt.add(c, r.RecordKey, r.Identity)
			}
			if err != nil {
				rebuilt.Close()
				return fmt.Errorf("drop partition %s/%d from buffer %s: %w", topic, partition, k, err)
			}
		}
		b.Close()
		for id, holder := range bt.holder {
			if holder == b {
				delete(bt.holder, id)
			}
		}
		if len(rebuilt.Events) == 0 {
			rebuilt.Close()
			bt.close(k)
			continue
		}
		bt.open[k], bt.last = rebuilt, nil
		for _, r := range rebuilt.Rows {
			if r.Identity != "" {
				bt.holder[r.Identity] = rebuilt
			}
		}
	}
	return nil
}

func sortByAge(bs []*Buffer) {
	sort.Slice(bs, func(i, j int) bool { return bs[i].Opened.Before(bs[j].Opened) })
}
