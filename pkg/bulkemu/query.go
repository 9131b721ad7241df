package bulkemu

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
)

// queryResult is the rendered CSV of a finished query job: the header line
// and the data rows, each with its line ending, in one buffer. Pages are
// slices of it, so a locator can be read any number of times.
type queryResult struct {
	csv       []byte
	headerEnd int      // end of the header line, with its line ending
	rowEnds   []uint32 // end of each row in csv
}

// defaultPageBytes is where the server ends a page of query results when
// neither the client (maxRecords) nor Options.QueryPageSize says: at the
// first row boundary past it.
const defaultPageBytes = 1 << 20

// rowsWithin returns how many rows from first make a page that ends at the
// first row boundary past limit bytes (at least one row, and the rows left
// when they fit).
func (r *queryResult) rowsWithin(first, limit int) int {
	start := r.headerEnd
	if first > 0 {
		start = int(r.rowEnds[first-1])
	}
	n := sort.Search(len(r.rowEnds)-first, func(i int) bool { return int(r.rowEnds[first+i])-start >= limit })
	return min(n+1, len(r.rowEnds)-first)
}

// queryRoutes dispatches /jobs/query[/{id}[/results]].
func (e *Emulator) queryRoutes(q *request) error {
	seg := q.seg[2:]
	if len(seg) == 0 {
		return q.only("GET,POST", func(q *request) error {
			if q.r.Method == http.MethodPost {
				return e.createQuery(q)
			}
			return e.listJobs(q, true)
		})
	}
	j := e.jobs.get(seg[0])
	if j == nil || !j.query {
		return errNotFound
	}
	switch {
	case len(seg) == 1:
		return e.jobResource(q, j)
	case len(seg) == 2 && seg[1] == "results":
		return q.only("GET", func(q *request) error { return e.queryPage(q, j) })
	}
	return errNotFound
}

type queryRequest struct {
	Operation       *string `json:"operation"`
	Query           *string `json:"query"`
	ColumnDelimiter *string `json:"columnDelimiter"`
	LineEnding      *string `json:"lineEnding"`
	ContentType     *string `json:"contentType"`
}

// createQuery serves POST /jobs/query. The SOQL is checked at once, as
// Salesforce does; the job then runs in the background.
func (e *Emulator) createQuery(q *request) error {
	var body queryRequest
	if err := decodeJSON(q.r, &body); err != nil {
		return err
	}
	op := str(body.Operation)
	if op != "query" && op != "queryAll" {
		return invalidProperty(op, "operation")
	}
	delim, ending, err := csvSettings(body.ContentType, body.ColumnDelimiter, body.LineEnding)
	if err != nil {
		return err
	}
	if str(body.Query) == "" {
		return badRequest("API_ERROR", "Invalid value: '' supplied for property: 'query'")
	}
	parsed, err := parseQuery(e.schema, *body.Query)
	if err != nil {
		return err
	}
	e.queryJobs.Add(1)
	j := &job{query: true, apiVersion: q.version, object: parsed.Object, operation: op, delimiter: delim, lineEnding: ending, created: e.now(), state: stateUploadComplete}
	j.modified = j.created
	e.jobs.add(j)
	j.mu.Lock()
	out := j.marshal(viewCreate)
	j.mu.Unlock()
	e.startJob(func() { e.runQuery(j, parsed) })
	writeRawJSON(q.w, http.StatusOK, out)
	return nil
}

// runQuery selects and renders the rows of a query job. It holds the
// store's read lock while it selects, so the result is a consistent
// snapshot.
func (e *Emulator) runQuery(j *job, parsed *query) {
	j.mu.Lock()
	if j.state != stateUploadComplete {
		j.mu.Unlock()
		return
	}
	j.setState(stateInProgress, e.now())
	j.mu.Unlock()
	res, err := e.selectRows(j, parsed)

	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != stateInProgress { // aborted meanwhile
		return
	}
	if err != nil {
		j.errorMessage = err.Error()
		j.setState(stateFailed, e.now())
		return
	}
	j.result = res
	j.processed = int64(len(res.rowEnds))
	j.setState(stateJobComplete, e.now())
}

// selectRows renders the query's result. A panic (a bug, never data)
// becomes an error that fails the job.
func (e *Emulator) selectRows(j *job, parsed *query) (res *queryResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			if e.opts.Logger != nil {
				e.opts.Logger.Error("panic while running a query", "job", j.id, "panic", p, "stack", string(debug.Stack()))
			}
			err = fmt.Errorf("Unknown : internal error of the emulator: %v", p)
		}
	}()
	delim, crlf := j.csvFormat()
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	res = &queryResult{}
	var sb bytes.Buffer
	headers := make([]string, len(parsed.Columns))
	for i, c := range parsed.Columns {
		headers[i] = c.Header
	}
	sb.Write(appendQuoted(sb.AvailableBuffer(), delim, headers...))
	sb.WriteString(eol)
	res.headerEnd = sb.Len()

	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	matches := e.store.selectViews(parsed, j.operation == "queryAll")
	values := make([]string, len(parsed.Columns))
	for _, v := range matches {
		for i, c := range parsed.Columns {
			values[i], _ = v.Value(c.Path)
		}
		sb.Write(appendQuoted(sb.AvailableBuffer(), delim, values...))
		sb.WriteString(eol)
		res.rowEnds = append(res.rowEnds, uint32(sb.Len()))
	}
	res.csv = sb.Bytes()
	return res, nil
}

// queryPage serves GET /jobs/query/{id}/results[?locator=&maxRecords=]:
// one page with its own header row, Sforce-NumberOfRecords always and
// Sforce-Locator "null" on the last page. The locator is opaque to clients;
// here it is the base64 of the first row's position.
func (e *Emulator) queryPage(q *request, j *job) error {
	j.mu.Lock()
	state, res, version := j.state, j.result, j.apiVersion
	j.mu.Unlock()
	if state != stateJobComplete || res == nil {
		return badRequest("INVALIDJOBSTATE", "Results are available once the query job is JobComplete; it is "+state)
	}
	if version != q.version {
		return &apiError{Status: http.StatusConflict, Code: "INVALIDJOBSTATE", Message: "Use the API version the query job was created with (" + version + ") to get its results"}
	}
	params := q.r.URL.Query()
	first := 0
	if loc := params.Get("locator"); loc != "" && loc != "null" {
		b, err := base64.RawStdEncoding.DecodeString(loc)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 || n > len(res.rowEnds) {
			return badRequest("INVALID_LOCATOR", "Invalid locator: "+loc)
		}
		first = n
	}
	size := e.opts.QueryPageSize
	if size <= 0 {
		size = res.rowsWithin(first, defaultPageBytes)
	}
	if m := params.Get("maxRecords"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n <= 0 {
			return badRequest("API_ERROR", "Invalid value: '"+m+"' supplied for parameter: 'maxRecords'")
		}
		size = n
	}
	last := first + min(size, len(res.rowEnds)-first) // not first+size: a maxRecords near MaxInt would overflow
	start := res.headerEnd
	if first > 0 {
		start = int(res.rowEnds[first-1])
	}
	end := start
	if last > first {
		end = int(res.rowEnds[last-1])
	}
	locator := "null"
	if last < len(res.rowEnds) {
		locator = base64.RawStdEncoding.EncodeToString([]byte(strconv.Itoa(last)))
	}
	h := q.w.Header()
	h.Set("Content-Type", "text/csv; charset=UTF-8")
	h.Set("Sforce-NumberOfRecords", strconv.Itoa(last-first))
	h.Set("Sforce-Locator", locator)
	q.w.WriteHeader(http.StatusOK)
	q.w.Write(res.csv[:res.headerEnd])
	q.w.Write(res.csv[start:end])
	return nil
}

// selectViews returns the records that a parsed query selects, sorted and
// cut to its LIMIT; with all set, deleted records too (queryAll). The
// caller holds the store's read lock.
func (s *store) selectViews(parsed *query, all bool) []recordView {
	t := s.tables[parsed.Object]
	var matches []recordView
	for i := range int32(t.len()) {
		st := t.row(i).state
		if st == rowHardDeleted || (st == rowDeleted && !all) {
			continue
		}
		v := s.view(t, i)
		if parsed.Match(v) {
			matches = append(matches, v)
		}
	}
	if parsed.HasOrder() {
		sort.SliceStable(matches, func(a, b int) bool { return parsed.Less(matches[a], matches[b]) })
	}
	if parsed.Limit >= 0 && len(matches) > parsed.Limit {
		matches = matches[:parsed.Limit]
	}
	return matches
}
