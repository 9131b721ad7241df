package bulkemu

import (
	"bytes"
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// Job states, as Salesforce names them.
const (
	stateOpen           = "Open"
	stateUploadComplete = "UploadComplete"
	stateInProgress     = "InProgress"
	stateJobComplete    = "JobComplete"
	stateFailed         = "Failed"
	stateAborted        = "Aborted"
)

func terminal(state string) bool {
	return state == stateJobComplete || state == stateFailed || state == stateAborted
}

// delimiters maps a job's columnDelimiter to its byte.
var delimiters = map[string]byte{"BACKQUOTE": '`', "CARET": '^', "COMMA": ',', "PIPE": '|', "SEMICOLON": ';', "TAB": '\t'}

// userID is the id of the one user of the emulated org, reported as
// createdById of every job.
var userID = makeID("005", 1)

// job is an ingest or a query job. Its mutex guards every field below it;
// the processing goroutine and the HTTP handlers take it briefly, never
// while waiting on anything else.
type job struct {
	id         string
	seq        int64 // counter of the job's id, also the seed of its faults
	query      bool
	apiVersion string // "62.0", from the path of the create request
	object     *Object
	operation  string
	externalID *Field // upsert only
	delimiter  string
	lineEnding string
	assignment string
	created    time.Time

	mu           sync.Mutex
	state        string
	modified     time.Time
	errorMessage string
	deleted      bool
	abort        chan struct{} // closed when the job is aborted while it runs
	ingest       *ingestData
	result       *queryResult
	processed    int64
	failed       int64
	retries      int
	started      time.Time
	finished     time.Time
	// done is made when processing takes the job InProgress and closed
	// when processing returns, once nothing writes the rows of ingest any
	// more; nil for a job that never went InProgress, whose rows nothing
	// writes. An abort makes the job terminal at once, while its scan or
	// a batch may still write rows until it sees the abort, so a reader
	// of the rows waits for done, not for a terminal state.
	done chan struct{}
}

// setState moves the job to state and stamps systemModstamp. The caller
// holds j.mu.
func (j *job) setState(state string, now time.Time) {
	j.state = state
	j.modified = now
	if state == stateInProgress {
		j.started = now
	}
	if terminal(state) {
		j.finished = now
		if state == stateAborted && j.abort != nil {
			close(j.abort)
			j.abort = nil
		}
	}
}

// jobView says which properties a job JSON carries; Salesforce returns a
// different subset on create, on close and on GET.
type jobView int

const (
	viewCreate jobView = iota // POST: contentUrl and line settings, no jobType, no counters
	viewClose                 // PATCH and multipart create: identity and state only
	viewList                  // list: identity, jobType and line settings, no counters
	viewInfo                  // GET: everything
)

// marshal renders the job as Salesforce does, in Salesforce's property
// order. The caller holds j.mu.
func (j *job) marshal(view jobView) []byte {
	var o orderedJSON
	o.add("id", j.id)
	o.add("operation", j.operation)
	o.add("object", j.object.Name)
	o.add("createdById", userID)
	o.add("createdDate", formatTime(j.created))
	o.add("systemModstamp", formatTime(j.modified))
	o.add("state", j.state)
	if j.externalID != nil {
		o.add("externalIdFieldName", j.externalID.Name)
	}
	if j.assignment != "" {
		o.add("assignmentRuleId", j.assignment)
	}
	o.add("concurrencyMode", "Parallel")
	o.add("contentType", "CSV")
	o.add("apiVersion", json.Number(j.apiVersion))
	if view == viewClose {
		return o.bytes()
	}
	if view == viewInfo || view == viewList {
		if j.query {
			o.add("jobType", "V2Query")
		} else {
			o.add("jobType", "V2Ingest")
		}
	}
	if !j.query && j.state == stateOpen {
		o.add("contentUrl", "services/data/v"+j.apiVersion+"/jobs/ingest/"+j.id+"/batches")
	}
	o.add("lineEnding", j.lineEnding)
	o.add("columnDelimiter", j.delimiter)
	if view == viewCreate || view == viewList {
		return o.bytes()
	}
	o.add("numberRecordsProcessed", j.processed)
	if !j.query {
		o.add("numberRecordsFailed", j.failed)
	}
	o.add("retries", j.retries)
	o.add("totalProcessingTime", j.processingMillis())
	if j.query {
		o.add("isPkChunkingSupported", true)
	} else {
		o.add("apiActiveProcessingTime", j.processingMillis())
		o.add("apexProcessingTime", 0)
	}
	if j.state == stateFailed && j.errorMessage != "" {
		o.add("errorMessage", j.errorMessage)
	}
	return o.bytes()
}

func (j *job) processingMillis() int64 {
	switch {
	case j.started.IsZero():
		return 0
	case j.finished.IsZero():
		return time.Since(j.started).Milliseconds()
	}
	return j.finished.Sub(j.started).Milliseconds()
}

// formatTime renders a job timestamp as Salesforce does, to the second:
// 2024-01-02T03:04:05.000+0000 (the milliseconds are always 000).
func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05.000-0700")
}

// orderedJSON builds a JSON object whose keys keep the order they were
// added in; Salesforce's property order is part of what the emulator copies.
type orderedJSON struct{ buf bytes.Buffer }

func (o *orderedJSON) add(key string, value any) {
	if o.buf.Len() == 0 {
		o.buf.WriteByte('{')
	} else {
		o.buf.WriteByte(',')
	}
	k, _ := json.Marshal(key)
	v, err := json.Marshal(value)
	if err != nil {
		v = []byte("null")
	}
	o.buf.Write(k)
	o.buf.WriteByte(':')
	o.buf.Write(v)
}

func (o *orderedJSON) bytes() []byte {
	if o.buf.Len() == 0 {
		return []byte("{}")
	}
	return append(o.buf.Bytes(), '}')
}

// registry holds all jobs. Its mutex guards the map and the counter only;
// each job guards itself.
type registry struct {
	mu   sync.Mutex
	seq  int64
	jobs map[string]*job
}

func (r *registry) add(j *job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	j.seq = r.seq
	j.id = makeID("750", r.seq)
	if r.jobs == nil {
		r.jobs = map[string]*job{}
	}
	r.jobs[j.id] = j
}

// get returns the job with the given 15- or 18-character id, or nil.
func (r *registry) get(id string) *job {
	if len(id) == 15 {
		id += idChecksum(id)
	}
	r.mu.Lock()
	j := r.jobs[id]
	r.mu.Unlock()
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.deleted {
		return nil
	}
	return j
}

func (r *registry) remove(j *job) {
	r.mu.Lock()
	delete(r.jobs, j.id)
	r.mu.Unlock()
}

// list returns ingest jobs, or with all set every job, in creation order.
func (r *registry) list(all bool) []*job {
	r.mu.Lock()
	out := make([]*job, 0, len(r.jobs))
	for _, j := range r.jobs {
		if all || !j.query {
			out = append(out, j)
		}
	}
	r.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].seq < out[b].seq })
	return out
}
