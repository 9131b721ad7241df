// Package journal is Bulkstream's job journal: a compacted Kafka topic that
// records which source events each Bulk API job covers, so that after a
// crash or a rebalance the new owner of a partition re-attaches to the jobs
// that were running instead of loading their rows again (an insert would
// become a duplicate record), and does not report again the events whose
// results were already published.
//
// An entry is about one slice of a job: the events of one source partition
// in it. Its key is "<jobId>/<topic>/<partition>", so compaction keeps the
// last word on each slice:
//
//   - open: written before the job is closed (UploadComplete), with the
//     offsets of the slice's events. The job may be running. A job's
//     results are published in chunks; with each chunk but the last the
//     slice is written again, still open, with the offsets whose results
//     are out so far (Published, in the same Kafka transaction as the
//     chunk in exactly-once delivery): a resume passes over those and
//     re-attaches the others to the job.
//   - closed: written once the results of the slice's events are published
//     (with the last chunk, in the same transaction in exactly-once
//     delivery), with the offsets whose results are out; events of the
//     slice that are not among them went on to a follow-up job or are to be
//     loaded again. A slice none of whose events has a result (every row
//     failed for a retryable reason) is closed with no offsets, before the
//     follow-up job is journaled.
//
// An entry written with a chunk of results (one that keeps the slice open,
// or closes it) that the journal topic refuses as too large is left out:
// the entry before it stays, and a resume attaches the events published
// since to the job again, unless the group has committed past them, and
// publishes their results a second time; the open entry written before the
// job is closed is never left out: refused, it fails the job before its
// close, and the job is never processed.
//
// Offsets are written as sorted [first, last] pairs, about 20 bytes an
// event when a slice's events are apart in their partition (it carries
// several objects or operations, or tombstones between them): an entry of
// 150,000 events would outgrow a journal topic's max.message.bytes. A set
// whose pairs are over 4 KiB is written instead in a compact form, a JSON
// string, when that is smaller: runs of offsets as varints, or a bitmap
// from the first offset, whichever is smaller (an event every other
// record takes a third of a byte, one record in ten at random 1.7 bytes).
// Read takes both forms. A compact set is of one offset at least and
// 10,000,000 at most (a set of more is written as pairs): one that claims
// none or more, or is otherwise malformed, makes its entry unreadable, and
// Read passes over it with a warning. So does a set of pairs of more than
// 10,000,000 ranges (MaxRanges), which the pipeline never writes unless
// the producer's batch limit (results.max_record_bytes) and the topic's
// max.message.bytes are raised to about 60 MB: a resume holds every range
// it reads.
//
// Rolling upgrades and rollbacks. Versions before the compact forms take
// only pairs, and
// pass over an entry they cannot read as if it were not there; for them, a
// slice whose last word is compact has its word before (if any) as its
// last, or none. Open or closed alike: a closed slice whose last word is
// compact is invisible to them, so its events above the group's committed
// offset are neither passed over nor re-attached, and are loaded again in
// a new job (an insert becomes a duplicate record) with their results
// published a second time; an open one is not re-attached to its job,
// with the same outcome. Nothing is lost, but rows can be duplicated. So
// roll back only once the group has committed past every event whose
// journal word is compact: stop intake (or pause the source), let the jobs
// in flight finish and their results be published, and wait for the
// group's lag to be 0 on every source partition; the events below the
// committed offsets are never consumed again, whatever the journal says.
// A rollback that does not wait may duplicate the rows of the slices
// written compact since the last commit (a job's slice of one object and
// operation in a partition of its own is a range or a few, always pairs,
// and is not at risk). Writing in the Pairs form (see RecordAs) spares
// the wait: once every instance writes pairs and the jobs started before
// have ended, no slice's last word above the committed offsets is compact,
// and a rollback is safe. The same holds for a rolling upgrade from such a
// version, whose instances read the entries of the upgraded ones while
// both run: write pairs until every instance is upgraded.
//
// An event can still be open in two jobs: when a job ended without
// processing a row (it failed as a whole, or was aborted before its close)
// and its rows went to a new job, and in journals written before slices
// were closed empty. The earlier job is never closed; the later one is the
// one to re-attach to, which is why Read gives entries in the order of their
// last word.
package journal

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// State of a slice.
const (
	Open   = "open"
	Closed = "closed"
)

// Entry is the journal's word on one slice of a job.
type Entry struct {
	JobID           string `json:"jobId"` // "" for results published without a job (decode failures)
	Object          string `json:"object,omitempty"`
	Operation       string `json:"operation,omitempty"`
	ExternalIDField string `json:"externalIdField,omitempty"`
	Attempt         int    `json:"attempt,omitempty"`
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	State           string `json:"state"`
	// Offsets are the slice's events (open), or those whose results are
	// published (closed; none when the job published none of them), as
	// sorted, disjoint [first, last] ranges (Ranges makes them so; others
	// are written as they are, never compact).
	Offsets [][2]int64 `json:"offsets"`
	// Published, in an open entry, are those of Offsets whose results are
	// out: a job publishes its results in chunks, and with each chunk but
	// the last its slice is written again, still open, so that a resume
	// passes over these and re-attaches the others to the job. None in an
	// entry written before the first chunk, and in entries of versions
	// before it (which closed the slice with each chunk instead).
	Published [][2]int64 `json:"published,omitempty"`
}

// entryJSON is an entry as written and read: its offsets in the forms of
// offsetSet, its other fields as they are.
type entryJSON struct {
	plainEntry
	Offsets   offsetSet `json:"offsets"`
	Published offsetSet `json:"published,omitempty"`
}

// plainEntry is Entry without its JSON methods.
type plainEntry Entry

// MarshalJSON writes e with each of its offset sets as pairs, or compact
// when they are many (see the package doc).
func (e Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(entryJSON{plainEntry(e), e.Offsets, e.Published})
}

// UnmarshalJSON reads an entry whose offset sets are in either form.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j entryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Entry(j.plainEntry)
	e.Offsets, e.Published = j.Offsets, j.Published
	return nil
}

// Key is the record key of an entry. An entry of no job is keyed by its
// first offset, so it needs one.
func (e *Entry) Key() []byte {
	job := e.JobID
	if job == "" && len(e.Offsets) > 0 {
		job = "nojob-" + strconv.FormatInt(e.Offsets[0][0], 10)
	}
	return []byte(job + "/" + e.Topic + "/" + strconv.Itoa(int(e.Partition)))
}

// Form is how Record writes an entry's offset sets.
type Form uint8

const (
	// Compact writes a set whose pairs are over 4 KiB in a compact form
	// when that is smaller (see the package doc). The default.
	Compact Form = iota
	// Pairs writes every set as pairs, which versions before the compact
	// form read too: for a rolling upgrade from such a version, and to
	// keep a rollback to one safe (see the package doc). An entry of many
	// events apart in their partition is then larger, 2 × the offset's
	// digits + 4 bytes an event (24 for ten-digit offsets), and may outgrow
	// the producer's batch limit or the journal topic's max.message.bytes.
	Pairs
)

// Record returns the entry as a record of topic, in the Compact form.
func (e *Entry) Record(topic string) *kgo.Record { return e.RecordAs(topic, Compact) }

// RecordAs returns the entry as a record of topic, its offset sets written
// in form.
func (e *Entry) RecordAs(topic string, form Form) *kgo.Record {
	var v []byte
	if form == Pairs {
		v, _ = json.Marshal(plainEntry(*e))
	} else {
		v, _ = json.Marshal(e)
	}
	return &kgo.Record{Topic: topic, Key: e.Key(), Value: v}
}

// Ranges turns offsets into sorted, disjoint ranges.
func Ranges(offsets []int64) [][2]int64 {
	sorted := slices.Clone(offsets)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var out [][2]int64
	for _, o := range sorted {
		if n := len(out); n > 0 && out[n-1][1]+1 == o {
			out[n-1][1] = o
			continue
		}
		out = append(out, [2]int64{o, o})
	}
	return out
}

// Contains reports whether offset is in the entry's ranges.
func (e *Entry) Contains(offset int64) bool {
	for _, r := range e.Offsets {
		if offset >= r[0] && offset <= r[1] {
			return true
		}
	}
	return false
}

// Each calls f for every offset of the entry.
func (e *Entry) Each(f func(offset int64)) {
	for _, r := range e.Offsets {
		for o := r[0]; o <= r[1]; o++ {
			f(o)
		}
	}
}

// Create makes the journal topic, compacted, with one partition, unless it
// exists.
func Create(ctx context.Context, cl *kgo.Client, topic string, replication int16) error {
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, 1, replication, map[string]*string{"cleanup.policy": ptr("compact")}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create journal topic %s: %w", topic, err)
	}
	return nil
}

func ptr(s string) *string { return &s }

// Read returns the last entry of every slice of the given source partitions
// in the journal, with read_committed isolation, so a closing entry of an
// aborted transaction is not seen. Entries come in the order their last
// words were written, the latest last. It reads up to the journal's last stable
// offset as listed before reading, however slowly the broker answers (ctx
// bounds it), so a slow fetch is never taken for the journal's end; a
// journal that cannot be listed or fetched is an error.
//
// An entry's topic and partition are read first, and its offsets only when
// they are of parts, so an entry of other partitions costs no decoding. An
// entry of parts that cannot be read (not JSON, or offsets malformed, more
// than a compact form takes, see maxCompactOffsets, or pairs of more than
// MaxRanges ranges) is passed over, with a warning on log that names its
// key: the slice's word before, if any, stands.
func Read(ctx context.Context, seeds []kgo.Opt, topic string, parts map[string][]int32, log *slog.Logger) ([]*Entry, error) {
	want := map[string]map[int32]bool{}
	for t, ps := range parts {
		want[t] = map[int32]bool{}
		for _, p := range ps {
			want[t][p] = true
		}
	}
	cl, err := kgo.NewClient(append(slices.Clone(seeds),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Commit and abort markers count towards the end offset: without
		// them a journal ending in a marker would never be read to its end.
		kgo.KeepControlRecords())...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	start, end, err := bounds(ctx, kadm.NewClient(cl), topic)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	type word struct {
		e  *Entry
		at int64 // its offset in the journal
	}
	last := map[string]word{}
	for next := start; next < end; {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("read journal: %w", ferr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			next = max(next, r.Offset+1)
			switch {
			case r.Attrs.IsControl():
			case r.Value == nil:
				delete(last, string(r.Key))
			default:
				var slice struct {
					Topic     string `json:"topic"`
					Partition int32  `json:"partition"`
				}
				err := json.Unmarshal(r.Value, &slice)
				if err == nil && !want[slice.Topic][slice.Partition] {
					return
				}
				var e Entry
				if err == nil {
					err = json.Unmarshal(r.Value, &e)
				}
				if err != nil {
					log.Warn("passing over a journal entry that cannot be read", "key", string(r.Key), "offset", r.Offset, "bytes", len(r.Value), "error", err)
					return
				}
				last[string(r.Key)] = word{&e, r.Offset}
			}
		})
	}
	words := slices.SortedFunc(maps.Values(last), func(a, b word) int { return cmp.Compare(a.at, b.at) })
	out := make([]*Entry, len(words))
	for i, w := range words {
		out[i] = w.e
	}
	return out, nil
}

// bounds returns the journal's log start offset and its last stable offset
// (the end under read_committed).
func bounds(ctx context.Context, adm *kadm.Client, topic string) (start, end int64, err error) {
	for _, b := range []struct {
		list func(context.Context, ...string) (kadm.ListedOffsets, error)
		to   *int64
	}{{adm.ListStartOffsets, &start}, {adm.ListCommittedOffsets, &end}} {
		listed, err := b.list(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return 0, 0, fmt.Errorf("list offsets: %w", err)
		}
		o, ok := listed.Lookup(topic, 0)
		if !ok {
			return 0, 0, fmt.Errorf("list offsets: none listed for %s", topic)
		}
		*b.to = o.Offset
	}
	return start, end, nil
}
