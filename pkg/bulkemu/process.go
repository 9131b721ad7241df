package bulkemu

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ingestData is an ingest job's upload and the outcome of each of its rows.
// The upload is kept once, as uploaded; result files are rendered from it
// and from rows, so a job costs its CSV plus about 40 bytes a row. It is
// kept until the job is deleted, not only until it is processed: every row
// is in one of the three result files, the successful and failed ones with
// its values and the unprocessed one as uploaded.
type ingestData struct {
	csv       []byte
	held      int64 // bytes of the upload memory csv holds (its capacity)
	headerEnd int   // end of the header line, without its line ending
	rows      []rowResult
	// batchSize and order say in which order result files list the rows:
	// internal batch by internal batch (batchSize rows each), the batches in
	// the order they were started (order holds their indexes), as an org
	// lists them in the order they finish. Set once the upload is scanned.
	batchSize int
	order     []int
}

// resultOrder yields the indexes of the rows in the order result files
// list them.
func (d *ingestData) resultOrder() iter.Seq[int] {
	return func(yield func(int) bool) {
		if d.batchSize == 0 {
			for i := range d.rows {
				if !yield(i) {
					return
				}
			}
			return
		}
		for _, b := range d.order {
			for i := b * d.batchSize; i < min((b+1)*d.batchSize, len(d.rows)); i++ {
				if !yield(i) {
					return
				}
			}
		}
	}
}

// batchOrder is the order in which a job's n internal batches start: a
// permutation drawn from the fault seed and the job, so that result files
// are not in upload order (Salesforce does not keep it) but the same seed
// gives the same order.
func (e *Emulator) batchOrder(j *job, n int) []int {
	return rand.New(rand.NewPCG(uint64(e.faults().Seed), uint64(j.seq))).Perm(n)
}

type rowStatus uint8

const (
	rowUnprocessed rowStatus = iota
	rowCreated
	rowSucceeded
	rowFailed
)

// rowResult is the outcome of one data row. Each is written by exactly one
// batch goroutine, and read only after the job is terminal.
type rowResult struct {
	start, end uint32 // the row's bytes in csv, without the line ending
	rec        int32  // record index, or -1
	status     rowStatus
	err        string // sf__Error of a failed row
}

// lineEnding returns whether the job expects CRLF and its delimiter byte.
func (j *job) csvFormat() (delim byte, crlf bool) {
	return delimiters[j.delimiter], j.lineEnding == "CRLF"
}

// process runs an ingest job from UploadComplete to a terminal state. It
// owns the job's rows while it runs; handlers only read the job's state and
// counters under j.mu.
func (e *Emulator) process(j *job) {
	j.mu.Lock()
	if j.state != stateUploadComplete {
		j.mu.Unlock()
		return
	}
	abort := make(chan struct{})
	j.abort = abort
	j.mu.Unlock()
	if !e.queue(abort) {
		return
	}
	j.mu.Lock()
	if j.state != stateUploadComplete || j.deleted { // aborted or deleted while queued, or before this goroutine ran
		j.mu.Unlock()
		return
	}
	j.setState(stateInProgress, e.now())
	data := j.ingest
	j.mu.Unlock()

	failure := e.runSafely(j, data, abort)

	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state == stateAborted {
		return
	}
	if failure != "" {
		j.errorMessage = failure
		j.setState(stateFailed, e.now())
		return
	}
	j.setState(stateJobComplete, e.now())
}

// queue waits out the Speed model's queue delay; it returns false when
// the job was aborted meanwhile.
func (e *Emulator) queue(abort <-chan struct{}) bool {
	if e.opts.Speed.QueueDelay <= 0 || !e.opts.Speed.on() {
		return true
	}
	select {
	case <-time.After(e.opts.Speed.QueueDelay):
		return true
	case <-abort:
		return false
	}
}

// runSafely runs the job and turns a panic into a failed job, so that no
// upload, however odd, can take the emulator down.
func (e *Emulator) runSafely(j *job, data *ingestData, abort <-chan struct{}) (failure string) {
	defer func() {
		if p := recover(); p != nil {
			if e.opts.Logger != nil {
				e.opts.Logger.Error("panic while processing a job", "job", j.id, "panic", p, "stack", string(debug.Stack()))
			}
			failure = fmt.Sprint("Unknown : internal error of the emulator: ", p)
		}
	}()
	return e.run(j, data, abort)
}

// run parses the upload and processes its rows in internal batches. It
// returns the job's errorMessage when the job fails.
func (e *Emulator) run(j *job, data *ingestData, abort <-chan struct{}) string {
	delim, crlf := j.csvFormat()
	cols, err := e.scan(j, data, delim, crlf)
	if err != nil {
		return err.Error()
	}
	if e.hit(e.faults().JobFailureRate, "job", j.seq, 0) {
		return "Unknown : the job failed while Salesforce processed it (fault injected by the emulator)"
	}
	duplicates := e.duplicateKeys(j, data, cols, delim, crlf)

	var (
		wg        sync.WaitGroup
		done      atomic.Int64 // rows processed so far, for pacing
		exhausted atomic.Bool  // the daily record limit was reached
		panicked  atomic.Pointer[any]
		// At full speed a job runs four batches at a time; under a Speed
		// model its batches queue for the org's workers with other jobs'.
		workers = e.workers
	)
	if workers == nil {
		workers = make(chan struct{}, 4)
	}
	size := e.opts.BatchSize
	data.batchSize = size
	data.order = e.batchOrder(j, (len(data.rows)+size-1)/size)
	for _, b := range data.order {
		start, end := b*size, min((b+1)*size, len(data.rows))
		e.batches.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case workers <- struct{}{}:
			case <-abort:
				return
			}
			defer func() {
				if p := recover(); p != nil {
					panicked.CompareAndSwap(nil, &p)
				}
				<-workers
			}()
			b := batch{e: e, j: j, data: data, cols: cols, delim: delim, crlf: crlf, dups: duplicates, done: &done, exhausted: &exhausted, abort: abort}
			b.run(start, end)
		}()
	}
	wg.Wait()
	if p := panicked.Load(); p != nil {
		panic(*p) // for runSafely, in the job's goroutine
	}
	switch {
	case exhausted.Load():
		return "ExceededQuota : The daily limit of Bulk API records processed has been exceeded; the remaining rows were not processed"
	case countStatus(data.rows, rowUnprocessed) > 0:
		return fmt.Sprintf("TooManyLockFailure : %d rows could not be processed after 20 retries", countStatus(data.rows, rowUnprocessed))
	}
	return ""
}

func countStatus(rows []rowResult, s rowStatus) int {
	n := 0
	for _, r := range rows {
		if r.status == s {
			n++
		}
	}
	return n
}

// scan checks the whole upload (header, syntax, line endings) before any
// row is processed, as Salesforce does, and records each row's byte range.
func (e *Emulator) scan(j *job, data *ingestData, delim byte, crlf bool) ([]csvColumn, error) {
	r := newCSVReader(data.csv, delim, crlf)
	header, _, end, err := r.next(nil)
	if err == io.EOF {
		return nil, jobFailure("ClientInputError : No data found in the upload")
	}
	if err != nil {
		return nil, csvFailure(err, crlf)
	}
	data.headerEnd = end
	cols, err := resolveHeader(e.schema, j.object, j.operation, header)
	if err != nil {
		return nil, err
	}
	var fields []string
	for {
		var start int
		fields, start, end, err = r.next(fields)
		if err == io.EOF {
			return cols, nil
		}
		if err != nil {
			return nil, csvFailure(err, crlf)
		}
		data.rows = append(data.rows, rowResult{start: uint32(start), end: uint32(end), rec: -1})
	}
}

func csvFailure(err error, crlf bool) error {
	if errors.Is(err, errLineEnding) {
		setting := "LF"
		if crlf {
			setting = "CRLF"
		}
		return jobFailure("ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is " + setting)
	}
	return jobFailure("InvalidBatch : " + err.Error())
}

// duplicateKeys returns the upsert keys that occur in more than one row of
// the job (folded); all rows of such a key fail with DUPLICATE_VALUE.
func (e *Emulator) duplicateKeys(j *job, data *ingestData, cols []csvColumn, delim byte, crlf bool) map[string]bool {
	if j.operation != "upsert" || j.externalID == nil || j.externalID.Name == "Id" {
		return nil
	}
	keyCol := -1
	for i, c := range cols {
		if c.field == j.externalID && c.parentField == nil {
			keyCol = i
		}
	}
	if keyCol < 0 {
		return nil
	}
	seen := make(map[string]bool, len(data.rows))
	dups := map[string]bool{}
	var fields []string
	for _, rr := range data.rows {
		fields = rowFields(data, rr, delim, crlf, fields)
		if keyCol >= len(fields) || fields[keyCol] == "" {
			continue
		}
		k := foldKey(fields[keyCol])
		if seen[k] {
			dups[k] = true
		}
		seen[k] = true
	}
	return dups
}

// rowFields parses the values of one data row again from the upload.
func rowFields(data *ingestData, rr rowResult, delim byte, crlf bool, fields []string) []string {
	r := newCSVReader(data.csv[rr.start:rr.end], delim, crlf)
	out, _, _, err := r.next(fields)
	if err != nil { // cannot happen: scan parsed the same bytes
		return fields[:0]
	}
	return out
}

// batch is one internal batch of an ingest job: rows processed in chunks of
// 200 (one Apex transaction each in Salesforce), each chunk holding the row
// locks of the records and parents it touches.
type batch struct {
	e         *Emulator
	j         *job
	data      *ingestData
	cols      []csvColumn
	delim     byte
	crlf      bool
	dups      map[string]bool
	done      *atomic.Int64
	exhausted *atomic.Bool
	abort     <-chan struct{}
}

const chunkSize = 200

func (b *batch) run(start, end int) {
	// An org updates a job's counters when an internal batch ends, so a
	// running job's numberRecordsProcessed grows batch by batch.
	defer b.count(start, end)
	owner := b.e.locks.newOwner()
	var fields []string
	for c := start; c < end; c += chunkSize {
		select {
		case <-b.abort:
			return
		default:
		}
		cEnd := min(c+chunkSize, end)
		if b.e.records.Add(int64(cEnd-c)) > b.e.opts.DailyRecordLimit {
			b.e.records.Add(-int64(cEnd - c))
			b.exhausted.Store(true)
			return
		}
		keys := make([][]string, cEnd-c)
		rows := make([][]string, cEnd-c)
		var all []string
		for i := c; i < cEnd; i++ {
			fields = rowFields(b.data, b.data.rows[i], b.delim, b.crlf, nil)
			rows[i-c] = fields
			keys[i-c] = b.lockKeys(fields)
			all = append(all, keys[i-c]...)
		}
		b.chunk(owner, c, rows, keys, all)
	}
}

// chunk processes the rows starting at first while holding their record
// locks, takes the Speed model's time for them (still holding the locks),
// and paces the job.
func (b *batch) chunk(owner int64, first int, rows, keys [][]string, all []string) {
	locked := b.e.locks.acquire(owner, all, b.e.opts.LockWait)
	defer b.e.locks.release(owner, all)
	due := time.Now().Add(b.e.opts.Speed.chunkDuration(len(rows)))
	func() {
		b.e.store.mu.Lock()
		defer b.e.store.mu.Unlock()
		now := b.e.now().UnixMilli()
		for i := range rows {
			b.row(first+i, rows[i], keys[i], locked, now)
		}
	}()
	if b.e.opts.Speed.on() {
		b.sleepUntil(due)
	}
	b.pace(int64(len(rows)))
}

// sleepUntil waits until t or until the job is aborted.
func (b *batch) sleepUntil(t time.Time) {
	if wait := time.Until(t); wait > 0 {
		select {
		case <-time.After(wait):
		case <-b.abort:
		}
	}
}

// count adds the outcomes of rows [from, to) to the job's counters, so that
// a running job shows its progress as Salesforce's do.
func (b *batch) count(from, to int) {
	var processed, failed int64
	for _, r := range b.data.rows[from:to] {
		switch r.status {
		case rowCreated, rowSucceeded:
			processed++
		case rowFailed:
			processed++
			failed++
		}
	}
	b.j.mu.Lock()
	b.j.processed += processed
	b.j.failed += failed
	b.j.mu.Unlock()
}

// row processes data row i.
func (b *batch) row(i int, fields []string, keys []string, locked map[string]bool, now int64) {
	rr := &b.data.rows[i]
	fail := func(err *rowError) {
		rr.status = rowFailed
		rr.err = err.String()
	}
	faults := b.e.faults()
	switch {
	case b.e.hit(faults.UnprocessedRate, "unprocessed", b.j.seq, int64(i)):
		return
	case b.e.hit(faults.LockErrorRate, "lock", b.j.seq, int64(i)):
		fail(errRowLocked)
		return
	}
	for _, k := range keys {
		if !locked[k] {
			fail(errRowLocked)
			return
		}
	}
	if key := b.upsertKey(fields); key != "" && b.dups[foldKey(key)] {
		fail(&rowError{Code: "DUPLICATE_VALUE", Message: "Duplicate external id specified: " + key, Fields: []string{b.j.externalID.Name}})
		return
	}
	out := b.e.store.apply(b.j, b.cols, fields, now)
	rr.rec = out.rec
	switch {
	case out.err != nil:
		fail(out.err)
	case out.created:
		rr.status = rowCreated
	default:
		rr.status = rowSucceeded
	}
}

func (b *batch) upsertKey(fields []string) string {
	if b.dups == nil {
		return ""
	}
	for i, c := range b.cols {
		if c.field == b.j.externalID && c.parentField == nil && i < len(fields) {
			return fields[i]
		}
	}
	return ""
}

// lockKeys names the records a row touches: itself (by Id or upsert key)
// and the parents its reference columns point to. Two concurrent chunks
// that share a key contend for its lock, as Salesforce's row locks do.
func (b *batch) lockKeys(fields []string) []string {
	var keys []string
	for i, c := range b.cols {
		if i >= len(fields) || fields[i] == "" || fields[i] == nullValue {
			continue
		}
		switch {
		case c.parentField != nil:
			keys = append(keys, c.parent.Name+"."+c.parentField.Name+"="+foldKey(fields[i]))
		case c.field.Type == TypeReference:
			keys = append(keys, c.field.ReferenceTo+".Id="+id15(fields[i]))
		case c.field.Name == "Id":
			keys = append(keys, b.j.object.Name+".Id="+id15(fields[i]))
		case c.field == b.j.externalID:
			keys = append(keys, b.j.object.Name+"."+c.field.Name+"="+foldKey(fields[i]))
		}
	}
	return keys
}

// pace sleeps so that the job processes no more than RowsPerSecond rows a
// second, counting the rows of all its batches.
func (b *batch) pace(n int64) {
	rps := b.e.faults().RowsPerSecond
	total := b.done.Add(n)
	if rps <= 0 {
		return
	}
	b.j.mu.Lock()
	started := b.j.started
	b.j.mu.Unlock()
	b.sleepUntil(started.Add(time.Duration(total) * time.Second / time.Duration(rps)))
}

// hit decides whether the fault of the given kind strikes the item (job
// sequence, row or request number): a hash of the seed and the item, so the
// same seed hits the same items whatever the timing.
func (e *Emulator) hit(rate float64, kind string, a, b int64) bool {
	if rate <= 0 {
		return false
	}
	h := uint64(e.faults().Seed)*0x9E3779B97F4A7C15 ^ uint64(a)*0xBF58476D1CE4E5B9 ^ uint64(b)*0x94D049BB133111EB
	for _, c := range kind {
		h = (h ^ uint64(c)) * 0x100000001B3
	}
	h ^= h >> 31
	h *= 0xD6E8FEB86659FD93
	h ^= h >> 32
	return float64(h>>11)/float64(1<<53) < rate
}

// rowLocks emulates Salesforce's record locks between concurrent chunks.
// Its mutex guards held; a chunk holds its locks while it is processed and
// paced.
type rowLocks struct {
	mu     sync.Mutex
	held   map[string]int64 // key → owner
	owners atomic.Int64
}

func (l *rowLocks) newOwner() int64 { return l.owners.Add(1) }

// acquire takes the locks of keys for owner, one by one in sorted order
// (so two chunks never wait for each other in a cycle), waiting up to wait
// in all for locks other owners hold. It returns the keys it got; a row
// whose key it did not get fails with UNABLE_TO_LOCK_ROW.
func (l *rowLocks) acquire(owner int64, keys []string, wait time.Duration) map[string]bool {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	got := make(map[string]bool, len(sorted))
	deadline := time.Now().Add(wait)
	for _, k := range sorted {
		for {
			l.mu.Lock()
			o, taken := l.held[k]
			if !taken || o == owner {
				l.held[k] = owner
				got[k] = true
			}
			l.mu.Unlock()
			if got[k] || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	return got
}

func (l *rowLocks) release(owner int64, keys []string) {
	l.mu.Lock()
	for _, k := range keys {
		if l.held[k] == owner {
			delete(l.held, k)
		}
	}
	l.mu.Unlock()
}

// resultHeader is the first line of a result file.
func resultHeader(kind string, data *ingestData, delim byte) string {
	orig := string(data.csv[:data.headerEnd])
	switch kind {
	case "successful":
		return `"sf__Id"` + string(delim) + `"sf__Created"` + string(delim) + orig
	case "failed":
		return `"sf__Id"` + string(delim) + `"sf__Error"` + string(delim) + orig
	}
	return orig
}

// textWriter is what bufio.Writer and bytes.Buffer have in common.
type textWriter interface {
	WriteByte(byte) error
	WriteString(string) (int, error)
}

// writeQuoted writes values quoted, quotes inside them doubled, separated by
// delim, as Salesforce writes every value of a result file.
func writeQuoted(sb textWriter, delim byte, values ...string) {
	for i, v := range values {
		if i > 0 {
			sb.WriteByte(delim)
		}
		sb.WriteByte('"')
		sb.WriteString(strings.ReplaceAll(v, `"`, `""`))
		sb.WriteByte('"')
	}
}
