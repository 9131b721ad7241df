package bulkemu

import "time"

// Speed is a model of how fast an org processes ingest jobs, after what
// Salesforce documents of its Bulk API: a job waits in a queue, is split
// into internal batches of BatchSize rows, and the batches of all jobs are
// processed by a fixed number of org-wide workers, each batch in chunks of
// 200 rows that hold their record locks while they run (so concurrent
// batches that touch one record wait for each other, up to LockWait). The
// zero value is full speed: no queue, no workers limit beyond four batches
// of one job at a time, no time per chunk. Tests rely on full speed.
type Speed struct {
	// QueueDelay is how long a closed job stays UploadComplete before its
	// first batch may start.
	QueueDelay time.Duration
	// Workers is the number of internal batches the org processes at once,
	// over all jobs. 0 means full speed, and the other fields are ignored.
	Workers int
	// ChunkTime is the time one chunk of 200 rows takes besides RowTime per
	// row (the transaction's fixed cost: triggers, sharing, commit).
	ChunkTime time.Duration
	// RowTime is the time each row of a chunk takes.
	RowTime time.Duration
}

// OrgSpeed is the speed model that `connector emulator --org-speed` turns
// on: a one-second queue, five workers, 100 ms per chunk and 0.5 ms per
// row, so a chunk of 200 rows takes 200 ms and the org processes 5,000
// rows a second at most. These are the emulator's own round figures, of the
// order that loads of plain objects reach, not measurements of an org.
func OrgSpeed() Speed {
	return Speed{QueueDelay: time.Second, Workers: 5, ChunkTime: 100 * time.Millisecond, RowTime: 500 * time.Microsecond}
}

// on reports whether the model is in force.
func (s Speed) on() bool { return s.Workers > 0 }

// chunkDuration is the time a chunk of n rows takes.
func (s Speed) chunkDuration(n int) time.Duration {
	return s.ChunkTime + time.Duration(n)*s.RowTime
}

// Capacity is the most rows a second the org's workers process when all
// of them are busy with full chunks: the figure a client's throughput is
// measured against. It is 0 at full speed.
func (s Speed) Capacity() float64 {
	if !s.on() {
		return 0
	}
	return float64(s.Workers) * chunkSize / s.chunkDuration(chunkSize).Seconds()
}
