package bulkemu

import (
	"bytes"
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
	"unsafe"
)

// ingestData is an ingest job's upload and the outcome of each of its rows.
// The upload is kept once, as uploaded; result files are rendered from it
// and from rows, so a job costs its CSV plus 16 bytes a row, and a failed
// row its entry in errs (35 to 56 bytes measured, as the map grows) plus
// its message, a string of its own. It is kept until the job is deleted,
// not only until it is processed: every row is in one of the three result
// files, the successful and failed ones with its values and the
// unprocessed one as uploaded.
type ingestData struct {
	csv       []byte // never written once uploaded: see text
	held      int64  // bytes of the upload memory csv holds (its capacity)
	headerEnd int    // end of the header line, without its line ending
	rows      []rowResult
	// batchSize and order say in which order result files list the rows:
	// internal batch by internal batch (batchSize rows each), the batches in
	// the order they were started (order holds their indexes), as an org
	// lists them in the order they finish. Set once the upload is scanned.
	batchSize int
	order     []int
	// errs holds the sf__Error of each failed row, by row index, under
	// errMu (batches add to it concurrently): kept in each rowResult, a
	// string that most rows never set doubled its size.
	errMu sync.Mutex
	errs  map[int32]string
}

// setError records the sf__Error of failed row i.
func (d *ingestData) setError(i int, msg string) {
	d.errMu.Lock()
	if d.errs == nil {
		d.errs = map[int32]string{}
	}
	d.errs[int32(i)] = msg
	d.errMu.Unlock()
}

// rowError returns the sf__Error of failed row i.
func (d *ingestData) rowError(i int) string {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	return d.errs[int32(i)]
}

// text returns bytes [from, to) of the upload as a string that shares
// their memory, which is safe because no byte of the upload is written once
// it is uploaded: copying each chunk's rows took as much CPU as parsing
// them.
func (d *ingestData) text(from, to int) string {
	if from == to {
		return ""
	}
	return unsafe.String(&d.csv[from], to-from)
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

// rowResult is the outcome of one data row, in 16 bytes; a failed row's
// error is in ingestData.errs. scan writes start, end and plain as it
// appends the row; then the one batch whose range holds the row writes rec
// and status, and reads them to count them. Anything else reads them only
// once processing has returned (job.done): not when the job is terminal,
// since an aborted job is terminal while its batches still run.
type rowResult struct {
	start, end uint32 // the row's bytes in csv, without the line ending
	rec        int32  // record index, or -1
	status     rowStatus
	// plain says that the row holds no quote, as scan found: its cells
	// are then the bytes between its delimiters, which the batch and the
	// result files split without reading the row for quotes and line
	// breaks again. Its zero value, false, has them parse the row whole,
	// right for any row.
	plain bool
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
	data, done := j.ingest, make(chan struct{})
	j.done = done
	j.mu.Unlock()

	failure := e.runSafely(j, data, abort)
	close(done)

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
	cols, keys, err := e.scan(j, data, delim, crlf)
	if err != nil {
		return err.Error()
	}
	if e.hit(e.faults().JobFailureRate, "job", j.seq, 0) {
		return "Unknown : the job failed while Salesforce processed it (fault injected by the emulator)"
	}
	duplicates := duplicateRows(keys)
	keyCol := upsertKeyColumn(j, cols)
	lockCols := e.lockColumns(j, cols, keyCol)

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
			b := batch{e: e, j: j, data: data, cols: cols, delim: delim, crlf: crlf, keyCol: keyCol, lockCols: lockCols, keys: keys, dups: duplicates, done: &done, exhausted: &exhausted, abort: abort}
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

// keyPage is the size of the pages scan folds upsert keys into.
const keyPage = 64 << 10

// maxRowsGuess caps the rows scan makes room for before it reads them.
const maxRowsGuess = 1 << 16

// scan checks the whole upload (header, syntax, line endings) before any
// row is processed, as Salesforce does, and records each row's byte range.
// For an upsert on an external id it also returns the folded key of each
// row ("" for a row without one), which the job's duplicate check, its row
// locks and its unique index share: a row's key is folded once.
func (e *Emulator) scan(j *job, data *ingestData, delim byte, crlf bool) (cols []csvColumn, keys []string, err error) {
	r := newCSVReader(data.csv, delim, crlf)
	header, _, end, err := r.next(nil)
	if err == io.EOF {
		return nil, nil, jobFailure("ClientInputError : No data found in the upload")
	}
	if err != nil {
		return nil, nil, csvFailure(err, crlf)
	}
	data.headerEnd = end
	cols, err = resolveHeader(e.schema, j.object, j.operation, header)
	if err != nil {
		return nil, nil, err
	}
	// Made once for the rows to come, at most one a line break, instead of
	// grown by copying as they are found; the guess is capped, since an
	// upload of empty lines, or of one quoted cell of line breaks, has far
	// fewer rows than line breaks (at 100 MB, gigabytes of rows otherwise).
	lines := min(bytes.Count(data.csv[r.pos:], []byte{'\n'})+1, maxRowsGuess)
	data.rows = make([]rowResult, 0, lines)
	keyCol := upsertKeyColumn(j, cols)
	// Of each row, scan needs the upsert key's cell at most, and none
	// without a key (keyCol -1): one cell then, the fewest upTo can ask
	// for, since 0 asks for every cell. The batch that processes the row
	// splits it whole.
	r.upTo = max(keyCol+1, 1)
	var (
		cells []cell
		// The folded keys are written one after the other into pages of
		// keyPage bytes, each key cut from its page as a string that
		// shares its memory: a page is never written where a key was cut,
		// and a page that a key outgrows by folding (appendFoldedCell
		// copies it) leaves the old copy to the keys cut from it. Folding
		// into one growing buffer, then copying it into a string, took
		// four times the keys' size in allocations.
		page []byte
	)
	if keyCol >= 0 {
		keys = make([]string, 0, lines)
	}
	for {
		var start int
		cells, start, end, err = r.nextCells(cells)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, csvFailure(err, crlf)
		}
		data.rows = append(data.rows, rowResult{start: uint32(start), end: uint32(end), rec: -1, plain: !r.lastQuoted})
		if keyCol >= 0 {
			key := ""
			if keyCol < len(cells) && cells[keyCol].end > cells[keyCol].start {
				c := cells[keyCol]
				if cap(page)-len(page) < c.end-c.start {
					page = make([]byte, 0, max(keyPage, c.end-c.start))
				}
				from := len(page)
				if page = appendFoldedCell(page, data.csv, c); len(page) > from {
					key = unsafe.String(&page[from], len(page)-from)
				}
			}
			keys = append(keys, key)
		}
	}
	return cols, keys, nil
}

// upsertKeyColumn returns the column of an upsert job's external id, or -1
// when the job is no upsert, upserts on Id or has no such column.
func upsertKeyColumn(j *job, cols []csvColumn) int {
	if j.operation != "upsert" || j.externalID == nil || j.externalID.Name == "Id" {
		return -1
	}
	for i, c := range cols {
		if c.field == j.externalID && c.parentField == nil {
			return i
		}
	}
	return -1
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

// rowCells finds the cells of one data row again in the upload.
func rowCells(data *ingestData, rr rowResult, delim byte, crlf bool, cells []cell) []cell {
	r := csvReader{data: data.csv[:rr.end], pos: int(rr.start), delim: delim, crlf: crlf}
	if rr.plain {
		return r.split(int(rr.start), int(rr.end), cells[:0])
	}
	out, _, _, err := r.nextCells(cells)
	if err != nil { // cannot happen: scan parsed the same bytes
		return cells[:0]
	}
	return out
}

// batch is one internal batch of an ingest job: rows processed in chunks of
// 200 (one Apex transaction each in Salesforce), each chunk holding the row
// locks of the records and parents it touches. A batch is run by one
// goroutine, which owns its scratch buffers.
type batch struct {
	e         *Emulator
	j         *job
	data      *ingestData
	cols      []csvColumn
	delim     byte
	crlf      bool
	keyCol    int          // column of the upsert key, or -1
	lockCols  []lockColumn // the columns that name records rows lock
	keys      []string     // folded upsert key of each row of the job, or nil; see scan
	dups      []bool       // whether each row's upsert key is another row's too, or nil
	done      *atomic.Int64
	exhausted *atomic.Bool
	abort     <-chan struct{}

	// The chunk being processed: its rows' values and lock keys, each row's
	// a range of values and locks. Reused from chunk to chunk.
	rows   []chunkRow
	values []string
	locks  []lockKey
	sorted []lockKey // locks sorted and without repeats, as acquired
	cells  []cell
	change change
}

// chunkRow is where the values and lock keys of a row of the chunk are in
// batch.values and batch.locks.
type chunkRow struct {
	values, valuesEnd int
	locks, locksEnd   int
}

const chunkSize = 200

func (b *batch) run(start, end int) {
	// An org updates a job's counters when an internal batch ends, so a
	// running job's numberRecordsProcessed grows batch by batch.
	defer b.count(start, end)
	owner := b.e.locks.newOwner()
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
		b.rows, b.values, b.locks = b.rows[:0], b.values[:0], b.locks[:0]
		first := int(b.data.rows[c].start)
		text := b.data.text(first, int(b.data.rows[cEnd-1].end))
		for i := c; i < cEnd; i++ {
			r := chunkRow{values: len(b.values), locks: len(b.locks)}
			b.values = b.rowValues(i, text, first, b.values)
			r.valuesEnd = len(b.values)
			b.locks = b.lockKeys(i, b.values[r.values:], b.locks)
			r.locksEnd = len(b.locks)
			b.rows = append(b.rows, r)
		}
		b.chunk(owner, c)
	}
}

// rowValues appends the values of data row i to values. They are cut from
// text, the chunk's rows, which start at byte first of the upload, so that
// a value costs no allocation (but a quoted value with quotes in it).
// Records copy the values they keep into their table's arena, so no record
// keeps the upload.
func (b *batch) rowValues(i int, text string, first int, values []string) []string {
	b.cells = rowCells(b.data, b.data.rows[i], b.delim, b.crlf, b.cells)
	for _, c := range b.cells {
		v := text[c.start-first : c.end-first]
		if c.escaped {
			v = strings.ReplaceAll(v, `""`, `"`)
		}
		values = append(values, v)
	}
	return values
}

// chunk processes the chunk's rows, the first of which is data row first,
// while holding their record locks, takes the Speed model's time for them
// (still holding the locks), and paces the job. A job aborted while the
// chunk waited for its locks (up to LockWait) leaves the chunk's rows
// unprocessed and their records not counted against DailyRecordLimit:
// the abort may have been answered, and results served, meanwhile.
func (b *batch) chunk(owner int64, first int) {
	b.sorted = append(b.sorted[:0], b.locks...)
	slices.Sort(b.sorted)
	b.sorted = slices.Compact(b.sorted)
	missed := b.e.locks.acquire(owner, b.sorted, b.e.opts.LockWait)
	defer b.e.locks.release(owner, b.sorted, missed)
	select {
	case <-b.abort:
		b.e.records.Add(-int64(len(b.rows)))
		return
	default:
	}
	due := time.Now().Add(b.e.opts.Speed.chunkDuration(len(b.rows)))
	func() {
		b.e.store.mu.Lock()
		defer b.e.store.mu.Unlock()
		now := b.e.now().UnixMilli()
		for k, r := range b.rows {
			b.row(first+k, b.values[r.values:r.valuesEnd], b.locks[r.locks:r.locksEnd], missed, now)
		}
	}()
	if b.e.opts.Speed.on() {
		b.sleepUntil(due)
	}
	b.pace(int64(len(b.rows)))
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

// row processes data row i; missed holds the lock keys the chunk did not
// get (nil when it got them all).
func (b *batch) row(i int, values []string, locks []lockKey, missed map[lockKey]bool, now int64) {
	rr := &b.data.rows[i]
	fail := func(err *rowError) {
		rr.status = rowFailed
		b.data.setError(i, err.String())
	}
	faults := b.e.faults()
	switch {
	case b.e.hit(faults.UnprocessedRate, "unprocessed", b.j.seq, int64(i)):
		return
	case b.e.hit(faults.LockErrorRate, "lock", b.j.seq, int64(i)):
		fail(errRowLocked)
		return
	}
	for _, k := range locks {
		if missed[k] {
			fail(errRowLocked)
			return
		}
	}
	key := ""
	if b.keys != nil {
		key = b.keys[i]
	}
	if b.dups != nil && b.dups[i] {
		fail(&rowError{Code: "DUPLICATE_VALUE", Message: "Duplicate external id specified: " + values[b.keyCol], Fields: []string{b.j.externalID.Name}})
		return
	}
	out := b.e.store.apply(b.j, b.cols, values, key, now, &b.change)
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

// appendEscaped appends v with its quotes doubled.
func appendEscaped(dst []byte, v string) []byte {
	for {
		i := strings.IndexByte(v, '"')
		if i < 0 {
			return append(dst, v...)
		}
		dst = append(dst, v[:i+1]...)
		dst = append(dst, '"')
		v = v[i+1:]
	}
}

// appendQuoted appends values quoted, quotes inside them doubled, separated
// by delim, as Salesforce writes every value of a result file.
func appendQuoted(dst []byte, delim byte, values ...string) []byte {
	for i, v := range values {
		if i > 0 {
			dst = append(dst, delim)
		}
		dst = append(dst, '"')
		dst = appendEscaped(dst, v)
		dst = append(dst, '"')
	}
	return dst
}
