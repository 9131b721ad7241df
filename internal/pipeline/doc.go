// Package pipeline is Bulkstream's streaming pipeline: it consumes change
// events from Kafka, runs them through Salesforce Bulk API 2.0 ingest jobs,
// and publishes one result per event, committing offsets only behind
// published results.
//
// # The life of an event
//
//		consumed ──► decoded ──► buffered ──► sealed ──► in a job ──► settled ──► published ──► committed
//		   │             │          (folded into a row)      │    ▲         │
//		   │             └─ decode failure ───────────────────┼────┼─────────┤
//		   └─ journal: result already out (passed over) ──────┼────┼─────────┼──────────────────► committed
//		                                                      └─ retry (lock, unprocessed, transient)
//
//	  - consumed: the poller takes a poll the main loop made room for (jobs
//	    waiting, the memory budget, no pause) from the source: the routed
//	    topics, or for connector replay a dead-letter topic, each record
//	    routed by its origin's topic and kept or passed over by the
//	    replay's filter (source.go; replay.go). Everything after is the same
//	    for both. The tracker notes each offset, which now holds back the
//	    partition's commits, and what the event costs against the memory
//	    budget.
//	  - decoded: the route's decoder turns the record into an event.Change;
//	    a record that cannot be decoded gets a BULKSTREAM_DECODE failure
//	    (the poll's failures are published together, by one task).
//	    A record whose schema the registry cannot give now parks its
//	    partition (parked.go): it and the partition's later records wait,
//	    in order, until a probe finds the registry back; a record that
//	    needs no write (a tombstone after its delete, a heartbeat) gets a
//	    skipped result.
//	  - buffered: the batcher folds the change into the open buffer of its
//	    (object, operation, external id field), one row per record, and
//	    notes the parent records the row refers to (parents.go).
//	  - sealed: the buffer rolls over (bytes, records — at once when it
//	    fills —, age, a dependency on another buffer, its share of the
//	    memory budget, the consumer reaching the end of a backlog (lag.go),
//	    shutdown) and waits in
//	    the ready queue until no job in flight holds one of its records, no
//	    job, waiting buffer or open buffer holds one of its parents, and a
//	    job slot is free.
//	  - in a job: a job runner runs the buffer as a Bulk API job: create,
//	    upload, journal entry, close, wait, read the result files. Once the
//	    close is sent, the job is seen through however long Salesforce
//	    takes (see submitter); a job failed by some of its rows
//	    (InvalidBatch) is narrowed down to them.
//	  - settled: each event gets its row's outcome; rows that failed for a
//	    retryable reason (a parent not there yet, within ParentWait) go to a
//	    follow-up job, folded rows that failed for good run again change by
//	    change. Between rounds a job runner gives its slot up (slots.go). Events of partitions that moved
//	    to another instance meanwhile are left to their new owner.
//	  - published: the job runner hands the outcomes, 5,000 at a time, to
//	    its publishing lane (publisher.go), which produces the results and
//	    dead-letter copies while the runner goes on, with a journal entry
//	    for each of the job's slices (in one transaction per source
//	    partition with exactly-once delivery): a chunk but the last writes
//	    the slice's open entry again with the offsets whose results are out
//	    so far, and the last closes it. A partition lost to the runner gets
//	    neither results nor entries from it: its new owner read the journal
//	    and has the word on the slice. An entry the journal topic refuses
//	    as too large is left out: the one before stays (see produceEntry).
//	    The lane then tells the main loop, the end of the job last.
//	  - committed: the tracker marks the partition's offset up to the
//	    lowest event without a published result; franz-go commits the marks.
//
// # Who owns what
//
// The main loop (Run's goroutine) owns the batcher, the tracker, the ready
// queue, the busy records, the identities, the parent columns of each
// object, the parked partitions, the counts of job slots and what the
// journal said about assigned partitions; it decides when the poller may
// poll. Tasks that ask Salesforce or the registry something for it
// (describe, registry probes, the journal planner) hand their answers to it
// over channels. Job runners own
// their buffers; the publishing lanes own producing, first in, first out
// for each job runner, and report to the main loop through the done
// channel, which marks the offsets. The
// consumer group's callbacks do no network I/O: a revoke waits for the main
// loop to drop the partition's events, and an assignment pauses the new
// partitions and leaves the journal to a planner task, whose plan the main
// loop applies before it resumes them. ownership (the partitions and the
// generation of their assignment) is shared under a lock: job runners check
// it before they journal a job, so a partition that moved is never loaded
// twice. stalls says which job runners are stuck on Salesforce, for the
// pause.
//
// Every goroutine of the pipeline (poller, job runners, publishing lanes,
// planners, describers, registry probes, watchers) is a task started by spawn and joined by Run before
// it returns.
//
// # Memory that is used again
//
// Per event, what the pipeline allocates is what the garbage collector
// works for, so the memory of a poll and of a publication is recycled
// where its end is certain:
//
//   - a poll's records: franz-go decompresses and decodes fetched batches
//     into memory the poller gives back once the main loop has handled
//     the poll (fetchpool.go: up to 32 slices of each kind, and 16 MiB of
//     each); the decode workers decode into the
//     poller's Changes (event.ReusingDecoder) and the poller reuses its
//     []ahead. Whatever outlives the poll keeps copies: a failure's
//     outcome and a parked record own their bytes, a buffer encodes the
//     change, a parked record is decoded again.
//   - a buffer's blocks go to a bounded list of spares (128 blocks, 8 MiB)
//     when it closes or spills, and its rows, events and record index to
//     the next buffer (2 kept; batch's store and buffer).
//   - a publication's records, and its result values with the default
//     JSON encoding (EncodeResult nil), come from an arena that the next
//     produce call reuses once ProduceSync has returned (recordArena, 2
//     kept of at most 8 MiB), and published chunks of outcomes go back to
//     the lanes (2 kept).
package pipeline
