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
//	  - consumed: the poller hands a poll to the main loop; the tracker
//	    notes the offset, which now holds back the partition's commits.
//	  - decoded: the route's decoder turns the record into an event.Change;
//	    a record that cannot be decoded gets a BULKSTREAM_DECODE failure.
//	  - buffered: the batcher folds the change into the open buffer of its
//	    (object, operation, external id field), one row per record.
//	  - sealed: the buffer rolls over (bytes, records, age, a dependency on
//	    another buffer, shutdown) and waits in the ready queue until no job
//	    in flight holds one of its records and a job slot is free.
//	  - in a job: a goroutine runs the buffer as a Bulk API job: create,
//	    upload, journal entry, close, wait, read the three result files.
//	  - settled: each event gets its row's outcome; rows that failed for a
//	    retryable reason go to a follow-up job, folded rows that failed for
//	    good run again change by change.
//	  - published: results and dead-letter copies are produced (with the
//	    journal's closing entry, in one transaction per source partition with
//	    exactly-once delivery).
//	  - committed: the tracker marks the partition's offset up to the
//	    lowest event without a published result; franz-go commits the marks.
//
// # Who owns what
//
// The main loop (Run's goroutine) owns the batcher, the tracker, the ready
// queue, the busy records, the identities and what the journal said about
// assigned partitions. Job goroutines own their buffers and talk to the
// main loop through the done channel; the consumer group's callbacks talk
// to it through the requests channel and wait for its answer, so the main
// loop never sees records of a partition it was told it lost.
package pipeline
