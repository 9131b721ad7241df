package bulkemu

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// Upload limits. Salesforce accepts 150 MB of base64-encoded data per job,
// which is 100 MB of CSV (taken as 100 MiB, as simple-salesforce does), and
// 100,000 characters in a multipart create.
const (
	maxUploadBytes    = 100 << 20
	maxMultipartChars = 100_000
)

var operations = map[string]bool{"insert": true, "update": true, "upsert": true, "delete": true, "hardDelete": true}

// ingestRoutes dispatches /jobs/ingest[/{id}[/{resource}]].
func (e *Emulator) ingestRoutes(q *request) error {
	seg := q.seg[2:]
	if len(seg) == 0 {
		return q.only("GET,POST", func(q *request) error {
			if q.r.Method == http.MethodPost {
				return e.createIngest(q)
			}
			return e.listJobs(q, false)
		})
	}
	j := e.jobs.get(seg[0])
	if j == nil || j.query {
		return errNotFound
	}
	if len(seg) == 1 {
		return e.jobResource(q, j)
	}
	if len(seg) != 2 {
		return errNotFound
	}
	switch strings.ToLower(seg[1]) {
	case "batches":
		return q.only("PUT", func(q *request) error { return e.upload(q, j) })
	case "successfulresults":
		return q.only("GET", func(q *request) error { return e.results(q, j, "successful") })
	case "failedresults":
		return q.only("GET", func(q *request) error { return e.results(q, j, "failed") })
	case "unprocessedrecords":
		return q.only("GET", func(q *request) error { return e.results(q, j, "unprocessed") })
	}
	return errNotFound
}

// ingestRequest is the body of a create request. Pointers tell absent
// properties from empty ones.
type ingestRequest struct {
	Object              *string `json:"object"`
	Operation           *string `json:"operation"`
	ExternalIDFieldName *string `json:"externalIdFieldName"`
	ColumnDelimiter     *string `json:"columnDelimiter"`
	LineEnding          *string `json:"lineEnding"`
	ContentType         *string `json:"contentType"`
	AssignmentRuleID    *string `json:"assignmentRuleId"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func invalidProperty(value, property string) error {
	return badRequest("API_ERROR", "Invalid value: '"+value+"' supplied for property: '"+property+"'")
}

// createIngest serves POST /jobs/ingest, with a JSON body or as the
// one-request multipart form that also uploads the data.
func (e *Emulator) createIngest(q *request) error {
	var (
		body ingestRequest
		data *ingestData
	)
	if mediaType(q.r) == "multipart/form-data" {
		var err error
		if data, err = e.readMultipart(q.r, &body); err != nil {
			return err
		}
	} else if err := decodeJSON(q.r, &body); err != nil {
		return err
	}
	j, err := e.newIngestJob(q.version, body)
	if err != nil {
		e.dropUpload(data)
		return err
	}
	e.jobs.add(j)
	if data == nil {
		j.mu.Lock()
		out := j.marshal(viewCreate)
		j.mu.Unlock()
		writeRawJSON(q.w, http.StatusOK, out)
		return nil
	}
	j.mu.Lock()
	j.ingest = data
	j.setState(stateUploadComplete, e.now())
	out := j.marshal(viewClose)
	j.mu.Unlock()
	e.startJob(func() { e.process(j) })
	writeRawJSON(q.w, http.StatusOK, out)
	return nil
}

func (e *Emulator) newIngestJob(version string, body ingestRequest) (*job, error) {
	obj := e.schema.Object(str(body.Object))
	if obj == nil {
		return nil, badRequest("INVALIDJOB", "InvalidJob : Unable to find object: "+str(body.Object))
	}
	op := str(body.Operation)
	if !operations[op] {
		return nil, invalidProperty(op, "operation")
	}
	delim, ending, err := csvSettings(body.ContentType, body.ColumnDelimiter, body.LineEnding)
	if err != nil {
		return nil, err
	}
	j := &job{apiVersion: version, object: obj, operation: op, delimiter: delim, lineEnding: ending,
		assignment: str(body.AssignmentRuleID), created: e.now(), state: stateOpen}
	j.modified = j.created
	if op == "upsert" {
		name := str(body.ExternalIDFieldName)
		if name == "" {
			return nil, badRequest("INVALIDJOB", "InvalidJob : External ID was blank for "+obj.Name+". An External ID must be specified for upsert.")
		}
		f := obj.Field(name)
		if f == nil || !(f.ExternalID || f.Name == "Id") {
			return nil, badRequest("INVALIDJOB", "InvalidJob : Field name provided, "+name+" does not match an External ID for "+obj.Name)
		}
		j.externalID = f
	}
	if op == "hardDelete" && !e.opts.HardDeleteAllowed {
		return nil, badRequest("FEATURENOTENABLED", "hardDelete operation requires special user profile permission, please contact your system administrator")
	}
	return j, nil
}

// csvSettings checks the CSV properties of a create request and returns
// the delimiter and line ending with their defaults, COMMA and LF.
func csvSettings(contentType, delimiter, lineEnding *string) (string, string, error) {
	if contentType != nil && *contentType != "CSV" {
		return "", "", invalidProperty(*contentType, "contentType")
	}
	delim, ending := "COMMA", "LF"
	if delimiter != nil {
		if _, ok := delimiters[*delimiter]; !ok {
			return "", "", invalidProperty(*delimiter, "columnDelimiter")
		}
		delim = *delimiter
	}
	if lineEnding != nil {
		if *lineEnding != "LF" && *lineEnding != "CRLF" {
			return "", "", invalidProperty(*lineEnding, "lineEnding")
		}
		ending = *lineEnding
	}
	return delim, ending, nil
}

// jobResource serves GET, PATCH and DELETE of /jobs/{ingest|query}/{id}.
func (e *Emulator) jobResource(q *request, j *job) error {
	return q.only("GET,PATCH,DELETE", func(q *request) error {
		switch q.r.Method {
		case http.MethodPatch:
			return e.changeState(q, j)
		case http.MethodDelete:
			return e.deleteJob(q, j)
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		writeRawJSON(q.w, http.StatusOK, j.marshal(viewInfo))
		return nil
	})
}

// readMultipart reads the "job" and "content" parts of a multipart create.
// The content it returns holds upload memory, which the caller releases
// unless a job keeps it; on error it holds none.
func (e *Emulator) readMultipart(r *http.Request, body *ingestRequest) (content *ingestData, err error) {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return nil, badRequest("API_ERROR", "multipart/form-data request without a boundary")
	}
	defer func() {
		if err != nil {
			e.dropUpload(content)
		}
	}()
	mr := multipart.NewReader(r.Body, strings.Trim(params["boundary"], `"`))
	sawJob := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return content, badRequest("API_ERROR", "Cannot read the multipart request: "+err.Error())
		}
		switch part.FormName() {
		case "job":
			fake := &http.Request{Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(part)}
			if err := decodeJSON(fake, body); err != nil {
				return content, err
			}
			sawJob = true
		case "content":
			e.dropUpload(content) // a later content part replaces an earlier one
			tooLarge := badRequest("API_ERROR", "The content part of a multipart request is limited to 100,000 characters; upload larger data with PUT /batches")
			if content, err = e.readUpload(part, 4*maxMultipartChars, -1, tooLarge); err != nil {
				return nil, err
			}
			if len([]rune(string(content.csv))) > maxMultipartChars {
				return content, tooLarge
			}
		default:
			return content, badRequest("API_ERROR", "Unexpected part in the multipart request: "+part.FormName())
		}
	}
	if !sawJob || content == nil {
		return content, badRequest("API_ERROR", "A multipart create needs a 'job' part and a 'content' part")
	}
	return content, nil
}

// upload serves PUT /jobs/ingest/{id}/batches: the job's one and only
// upload, answered 201 with no body. A body longer than maxUploadBytes is
// refused with 413, at once when its Content-Length says so; see
// readUpload for how the body is read.
func (e *Emulator) upload(q *request, j *job) error {
	if ct := mediaType(q.r); ct != "text/csv" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: "UNSUPPORTED_MEDIA_TYPE", Message: "Content-Type header specified in HTTP request is not supported: " + q.r.Header.Get("Content-Type")}
	}
	j.mu.Lock()
	uploaded, state := j.ingest != nil, j.state
	j.mu.Unlock()
	if uploaded {
		return errSecondUpload(j)
	}
	if state != stateOpen {
		return badRequest("INVALIDJOBSTATE", "Data can only be uploaded to an Open job; this job is "+state)
	}
	size := plainLength(q.r)
	if size > maxUploadBytes {
		return errUploadTooLarge
	}
	data, err := e.readUpload(q.r.Body, maxUploadBytes, size, errUploadTooLarge)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ingest != nil || j.state != stateOpen { // lost a race with another upload or an abort
		e.dropUpload(data)
		return errSecondUpload(j)
	}
	j.ingest = data
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// errSecondUpload answers an upload to a job that already has one.
func errSecondUpload(j *job) error {
	return badRequest("BULK_API_ERROR", "Found multipe contents for job: <"+id15(j.id)+">, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.")
}

// errUploadTooLarge answers an upload beyond Salesforce's limit for one job.
// The reference does not record Salesforce's answer; this is the REST API's
// status for a request that is too large, with a code that names it.
var errUploadTooLarge = &apiError{Status: http.StatusRequestEntityTooLarge, Code: "EXCEEDED_MAX_SIZE_REQUEST",
	Message: "Upload exceeds the limit of 150 MB of base64-encoded data (100 MB of CSV); split the data into several jobs"}

// stateChange is the body of a close or abort. Besides state it takes
// every property of the job's own JSON and ignores them, as Salesforce
// does: clients send the job back with its state changed (go-salesforce
// sends its id), and a property the job does not have is still refused.
type stateChange struct {
	State *string `json:"state"`

	ID                      json.RawMessage `json:"id"`
	Operation               json.RawMessage `json:"operation"`
	Object                  json.RawMessage `json:"object"`
	CreatedByID             json.RawMessage `json:"createdById"`
	CreatedDate             json.RawMessage `json:"createdDate"`
	SystemModstamp          json.RawMessage `json:"systemModstamp"`
	ExternalIDFieldName     json.RawMessage `json:"externalIdFieldName"`
	AssignmentRuleID        json.RawMessage `json:"assignmentRuleId"`
	ConcurrencyMode         json.RawMessage `json:"concurrencyMode"`
	ContentType             json.RawMessage `json:"contentType"`
	APIVersion              json.RawMessage `json:"apiVersion"`
	JobType                 json.RawMessage `json:"jobType"`
	ContentURL              json.RawMessage `json:"contentUrl"`
	LineEnding              json.RawMessage `json:"lineEnding"`
	ColumnDelimiter         json.RawMessage `json:"columnDelimiter"`
	NumberRecordsProcessed  json.RawMessage `json:"numberRecordsProcessed"`
	NumberRecordsFailed     json.RawMessage `json:"numberRecordsFailed"`
	Retries                 json.RawMessage `json:"retries"`
	TotalProcessingTime     json.RawMessage `json:"totalProcessingTime"`
	APIActiveProcessingTime json.RawMessage `json:"apiActiveProcessingTime"`
	ApexProcessingTime      json.RawMessage `json:"apexProcessingTime"`
	ErrorMessage            json.RawMessage `json:"errorMessage"`
	IsPkChunkingSupported   json.RawMessage `json:"isPkChunkingSupported"`
	Query                   json.RawMessage `json:"query"`
}

// changeState serves PATCH /jobs/{ingest|query}/{id}: close or abort.
func (e *Emulator) changeState(q *request, j *job) error {
	var body stateChange
	if err := decodeJSON(q.r, &body); err != nil {
		return err
	}
	want := str(body.State)
	j.mu.Lock()
	defer j.mu.Unlock()
	cur := j.state
	switch want {
	case stateUploadComplete:
		if j.query || cur != stateOpen {
			return badRequest("INVALIDJOBSTATE", "Closing already "+stateWord(cur)+" Job not allowed")
		}
		if j.ingest == nil {
			j.ingest = &ingestData{}
		}
		j.setState(stateUploadComplete, e.now())
		e.startJob(func() { e.process(j) })
	case stateAborted:
		if terminal(cur) {
			return badRequest("INVALIDJOBSTATE", "Aborting already "+stateWord(cur)+" Job not allowed")
		}
		j.setState(stateAborted, e.now())
	case stateOpen, stateInProgress, stateJobComplete, stateFailed:
		return badRequest("INVALIDJOBSTATE", "The state of a job cannot be changed to "+want+"; use UploadComplete or Aborted")
	default:
		return invalidProperty(want, "state")
	}
	writeRawJSON(q.w, http.StatusOK, j.marshal(viewClose))
	return nil
}

func stateWord(state string) string {
	switch state {
	case stateJobComplete:
		return "Completed"
	case stateAborted:
		return "aborted"
	case stateFailed:
		return "failed"
	}
	return "closed"
}

// deleteJob serves DELETE /jobs/{ingest|query}/{id}: 204 for a job that is
// no longer running.
func (e *Emulator) deleteJob(q *request, j *job) error {
	j.mu.Lock()
	deletable := terminal(j.state) || (!j.query && j.state == stateUploadComplete)
	if deletable {
		j.deleted = true
		e.dropUpload(j.ingest)
		j.ingest, j.result = nil, nil
		if j.abort != nil {
			close(j.abort)
			j.abort = nil
		}
	}
	j.mu.Unlock()
	if !deletable {
		return badRequest("API_ERROR", "Error encountered when deleting the job because the job is not terminated")
	}
	e.jobs.remove(j)
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listPage is the number of jobs per page of a job list.
const listPage = 1000

// listJobs serves GET /jobs/ingest and GET /jobs/query (all jobs), 1,000 a
// page, with Salesforce's filters.
func (e *Emulator) listJobs(q *request, all bool) error {
	params := q.r.URL.Query()
	offset := 0
	if loc := params.Get("queryLocator"); loc != "" {
		_, n, ok := strings.Cut(loc, "-")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 0 {
			return badRequest("INVALID_QUERY_LOCATOR", "invalid query locator")
		}
		offset = v
	}
	var records []jsonRaw
	jobs := e.jobs.list(all)
	for _, j := range jobs {
		j.mu.Lock()
		if t := params.Get("jobType"); t != "" && t != jobType(j) {
			j.mu.Unlock()
			continue
		}
		if params.Get("isPkChunkingEnabled") == "true" || (params.Get("concurrencyMode") != "" && !strings.EqualFold(params.Get("concurrencyMode"), "parallel")) {
			j.mu.Unlock()
			continue
		}
		records = append(records, j.marshal(viewList))
		j.mu.Unlock()
	}
	offset = min(offset, len(records)) // before adding listPage: a locator near MaxInt would overflow
	page := records[offset:min(offset+listPage, len(records))]
	var o orderedJSON
	done := offset+listPage >= len(records)
	o.add("done", done)
	if page == nil {
		page = []jsonRaw{}
	}
	o.add("records", page)
	if done {
		o.add("nextRecordsUrl", nil)
	} else {
		kind := "ingest"
		if all {
			kind = "query"
		}
		o.add("nextRecordsUrl", "/services/data/v"+q.version+"/jobs/"+kind+"?queryLocator="+orgID[:15]+"-"+strconv.Itoa(offset+listPage))
	}
	writeRawJSON(q.w, http.StatusOK, o.bytes())
	return nil
}

// jsonRaw is JSON that is already encoded.
type jsonRaw []byte

func (r jsonRaw) MarshalJSON() ([]byte, error) { return r, nil }

func jobType(j *job) string {
	if j.query {
		return "V2Query"
	}
	return "V2Ingest"
}

// results serves the three result files of an ingest job once it is
// terminal, streaming them from the upload and the row outcomes. For a job
// aborted while it runs, it first waits for processing to stop writing the
// rows (a chunk's work at most, a chunk's wait for a record lock, up to
// LockWait, after which it writes nothing, or the rest of the upload's
// scan), or for the client to go away.
func (e *Emulator) results(q *request, j *job, kind string) error {
	j.mu.Lock()
	state, data, done := j.state, j.ingest, j.done
	j.mu.Unlock()
	if !terminal(state) {
		return badRequest("INVALIDJOBSTATE", "Results are available once the job is JobComplete, Failed or Aborted; it is "+state)
	}
	if done != nil {
		select {
		case <-done:
		case <-q.r.Context().Done():
			// The client went away: no one reads an answer, and an
			// error here would be written and logged as a 500.
			return nil
		}
	}
	delim, crlf := j.csvFormat()
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	q.w.Header().Set("Content-Type", "text/csv; charset=UTF-8")
	q.w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(q.w, 64<<10)
	defer bw.Flush()
	if data == nil || data.headerEnd == 0 && len(data.rows) == 0 {
		// Nothing was scanned: a job aborted or failed before processing.
		e.writeUnscanned(bw, j, data, kind, eol)
		return nil
	}
	bw.WriteString(resultHeader(kind, data, delim) + eol)
	t := e.store.tables[j.object]
	var (
		line  []byte
		cells []cell
	)
	for i := range data.resultOrder() {
		rr := data.rows[i]
		want := false
		switch kind {
		case "successful":
			want = rr.status == rowCreated || rr.status == rowSucceeded
		case "failed":
			want = rr.status == rowFailed
		case "unprocessed":
			want = rr.status == rowUnprocessed
		}
		if !want {
			continue
		}
		if kind == "unprocessed" {
			bw.Write(data.csv[rr.start:rr.end])
			bw.WriteString(eol)
			continue
		}
		line = append(line[:0], '"')
		if rr.rec >= 0 {
			line = t.appendRecordID(line, rr.rec)
		}
		line = append(line, '"', delim, '"')
		if kind == "successful" {
			line = append(line, formatBool(rr.status == rowCreated)...)
		} else {
			line = appendEscaped(line, data.rowError(i))
		}
		line = append(line, '"', delim)
		line, cells = appendQuotedRow(line, data, rr, delim, crlf, cells)
		line = append(line, eol...)
		bw.Write(line)
	}
	return nil
}

// appendQuotedRow appends the values of data row rr each quoted, quotes in
// it doubled, as result files write them: the bytes between the quotes of
// a quoted cell of the upload are already that, and an unquoted cell holds
// no quote. A row without a quote (rr.plain), as most are, is its
// cells with quotes around each, written without parsing it again; others
// are parsed into cells, which it returns for reuse.
func appendQuotedRow(dst []byte, data *ingestData, rr rowResult, delim byte, crlf bool, cells []cell) ([]byte, []cell) {
	row := data.csv[rr.start:rr.end]
	if rr.plain {
		dst = append(dst, '"')
		for {
			i := bytes.IndexByte(row, delim)
			if i < 0 {
				break
			}
			dst = append(dst, row[:i]...)
			dst = append(dst, '"', delim, '"')
			row = row[i+1:]
		}
		dst = append(dst, row...)
		return append(dst, '"'), cells
	}
	cells = rowCells(data, rr, delim, crlf, cells)
	for k, c := range cells {
		if k > 0 {
			dst = append(dst, delim)
		}
		dst = append(dst, '"')
		dst = append(dst, data.csv[c.start:c.end]...)
		dst = append(dst, '"')
	}
	return dst, cells
}

// writeUnscanned writes the result files of a job whose upload was never
// parsed: no successes or failures, and the raw upload as unprocessed.
func (e *Emulator) writeUnscanned(w *bufio.Writer, j *job, data *ingestData, kind, eol string) {
	if data == nil || len(data.csv) == 0 {
		return
	}
	header, _, _ := bytes.Cut(data.csv, []byte(eol))
	switch kind {
	case "unprocessed":
		w.Write(data.csv)
	default:
		delim, _ := j.csvFormat()
		w.WriteString(resultHeader(kind, &ingestData{csv: header, headerEnd: len(header)}, delim) + eol)
	}
}
