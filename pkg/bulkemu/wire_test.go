package bulkemu

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var fixedClock = func() time.Time { return time.Date(2026, 3, 21, 20, 3, 25, 0, time.UTC) }

// The bytes of a job as Salesforce sends them on create, close and GET:
// property order, apiVersion as 62.0, timestamps with +0000, a relative
// contentUrl only while the job is Open.
func TestJobJSONMatchesSalesforce(t *testing.T) {
	o := newOrg(t, Options{Now: fixedClock})
	r := o.do("POST", "/jobs/ingest/", "application/json; charset=utf-8", `{"object":"Account","operation":"upsert","externalIdFieldName":"External_Id__c"}`)
	want := `{"id":"7508c0000000001AAA","operation":"upsert","object":"Account","createdById":"0058c0000000001AAA",` +
		`"createdDate":"2026-03-21T20:03:25.000+0000","systemModstamp":"2026-03-21T20:03:25.000+0000","state":"Open",` +
		`"externalIdFieldName":"External_Id__c","concurrencyMode":"Parallel","contentType":"CSV","apiVersion":62.0,` +
		`"contentUrl":"services/data/v62.0/jobs/ingest/7508c0000000001AAA/batches","lineEnding":"LF","columnDelimiter":"COMMA"}`
	if r.status != http.StatusOK || r.body != want {
		t.Fatalf("create: %d\n got %s\nwant %s", r.status, r.body, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json;charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if li := r.header.Get("Sforce-Limit-Info"); !regexp.MustCompile(`^api-usage=\d+/1000000$`).MatchString(li) {
		t.Errorf("Sforce-Limit-Info %q", li)
	}
	up := o.do("PUT", "/jobs/ingest/7508c0000000001AAA/batches/", "text/csv", "External_Id__c,Name\nA-1,Acme\n")
	if up.status != http.StatusCreated || up.body != "" {
		t.Fatalf("upload: %d %q, want 201 and no body", up.status, up.body)
	}
	r = o.do("PATCH", "/jobs/ingest/7508c0000000001AAA", "application/json; charset=UTF-8", `{"state":"UploadComplete"}`)
	want = `{"id":"7508c0000000001AAA","operation":"upsert","object":"Account","createdById":"0058c0000000001AAA",` +
		`"createdDate":"2026-03-21T20:03:25.000+0000","systemModstamp":"2026-03-21T20:03:25.000+0000","state":"UploadComplete",` +
		`"externalIdFieldName":"External_Id__c","concurrencyMode":"Parallel","contentType":"CSV","apiVersion":62.0}`
	if r.status != http.StatusOK || r.body != want {
		t.Fatalf("close: %d\n got %s\nwant %s", r.status, r.body, want)
	}
	o.wait("/jobs/ingest/7508c0000000001AAA")
	r = o.do("GET", "/jobs/ingest/7508c0000000001AAA", "", "")
	want = `{"id":"7508c0000000001AAA","operation":"upsert","object":"Account","createdById":"0058c0000000001AAA",` +
		`"createdDate":"2026-03-21T20:03:25.000+0000","systemModstamp":"2026-03-21T20:03:25.000+0000","state":"JobComplete",` +
		`"externalIdFieldName":"External_Id__c","concurrencyMode":"Parallel","contentType":"CSV","apiVersion":62.0,"jobType":"V2Ingest",` +
		`"lineEnding":"LF","columnDelimiter":"COMMA","numberRecordsProcessed":1,"numberRecordsFailed":0,"retries":0,` +
		`"totalProcessingTime":0,"apiActiveProcessingTime":0,"apexProcessingTime":0}`
	if r.body != want {
		t.Fatalf("info:\n got %s\nwant %s", r.body, want)
	}
	if r := o.do("DELETE", "/jobs/ingest/7508c0000000001AAA", "", ""); r.status != http.StatusNoContent || r.body != "" {
		t.Fatalf("delete: %d %q", r.status, r.body)
	}
	o.do("GET", "/jobs/ingest/7508c0000000001AAA", "", "").wantError(t, 404, "NOT_FOUND", "The requested resource does not exist")
}

// Result files: the two sf__ columns quoted, the original header echoed as
// uploaded, every value quoted with inner quotes doubled, the job's
// delimiter and line ending.
func TestResultFilesMatchSalesforce(t *testing.T) {
	o := newOrg(t, Options{})
	id, info := o.load(`{"object":"Account","operation":"insert"}`,
		"Name,NumberOfEmployees,Description\n"+
			"Acme,10,\"Says \"\"hi\"\", twice\"\n"+
			",5,no name\n"+
			"Globex,many,bad number\n")
	if info["numberRecordsProcessed"] != 3.0 || info["numberRecordsFailed"] != 2.0 {
		t.Fatalf("counters: %v", info)
	}
	wantOK := `"sf__Id","sf__Created",Name,NumberOfEmployees,Description` + "\n" +
		`"0018c0000000001AAA","true","Acme","10","Says ""hi"", twice"` + "\n"
	if got := o.results(id, "successfulResults"); got != wantOK {
		t.Errorf("successfulResults:\n got %q\nwant %q", got, wantOK)
	}
	wantFailed := `"sf__Id","sf__Error",Name,NumberOfEmployees,Description` + "\n" +
		`"","REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --","","5","no name"` + "\n" +
		`"","INVALID_FIELD:Failed to deserialize field at col 2. Due to, 'many' is not a valid value for the type xsd:int:NumberOfEmployees --","Globex","many","bad number"` + "\n"
	if got := o.results(id, "failedResults/"); got != wantFailed {
		t.Errorf("failedResults:\n got %q\nwant %q", got, wantFailed)
	}
	for _, path := range []string{"unprocessedrecords", "unprocessedRecords/"} {
		if got := o.results(id, path); got != "Name,NumberOfEmployees,Description\n" {
			t.Errorf("%s: %q", path, got)
		}
	}

	id, _ = o.load(`{"object":"Account","operation":"insert","columnDelimiter":"SEMICOLON","lineEnding":"CRLF"}`,
		"Name;Phone\r\n\"Semi; colon\";555\r\n")
	want := `"sf__Id";"sf__Created";Name;Phone` + "\r\n" + `"0018c0000000002AAA";"true";"Semi; colon";"555"` + "\r\n"
	if got := o.results(id, "successfulResults"); got != want {
		t.Errorf("semicolon/CRLF results:\n got %q\nwant %q", got, want)
	}
}

func TestTokenEndpoint(t *testing.T) {
	o := newOrg(t, Options{ClientID: "app", ClientSecret: "s3cret"})
	post := func(form url.Values, user, pass string) response {
		req, _ := http.NewRequest("POST", o.url+"/services/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}
	ok := post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s3cret"}}, "", "")
	tok := ok.json(t)
	if ok.status != 200 || tok["instance_url"] != o.url || tok["token_type"] != "Bearer" ||
		!strings.HasPrefix(tok["id"].(string), o.url+"/id/00D") || tok["signature"] == "" || tok["issued_at"] == "" {
		t.Fatalf("token response %d %s", ok.status, ok.body)
	}
	o.token = tok["access_token"].(string)
	if r := o.do("GET", "/limits", "", ""); r.status != 200 {
		t.Fatalf("issued token refused: %d %s", r.status, r.body)
	}
	if r := post(url.Values{"grant_type": {"client_credentials"}}, "app", "s3cret"); r.status != 200 {
		t.Fatalf("HTTP Basic client authentication refused: %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"wrong"}}, `{"error":"invalid_client","error_description":"invalid client credentials"}`},
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {"other"}, "client_secret": {"s3cret"}}, `{"error":"invalid_client_id","error_description":"client identifier invalid"}`},
		{url.Values{"grant_type": {"password"}}, `{"error":"unsupported_grant_type","error_description":"grant type not supported"}`},
	} {
		if r := post(c.form, "", ""); r.status != 400 || r.body != c.want {
			t.Errorf("%v: %d %s, want 400 %s", c.form, r.status, r.body, c.want)
		}
	}
}

func TestSessions(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	o := newOrg(t, Options{TokenTTL: time.Minute, Now: clock})
	if r := o.do("GET", "/limits", "", ""); r.status != 200 {
		t.Fatalf("fresh token: %d", r.status)
	}
	now = now.Add(2 * time.Minute)
	r := o.do("GET", "/limits", "", "")
	if r.status != 401 || r.body != `[{"errorCode":"INVALID_SESSION_ID","message":"Session expired or invalid"}]` {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}
	o.token = "nonsense"
	o.do("GET", "/jobs/ingest", "", "").wantError(t, 401, "INVALID_SESSION_ID", "Session expired or invalid")
}

func TestCreateJobErrors(t *testing.T) {
	o := newOrg(t, Options{})
	for _, c := range []struct {
		contentType, body string
		status            int
		code, message     string
	}{
		{"application/json", `{"object":"Nope__c","operation":"insert"}`, 400, "INVALIDJOB", "InvalidJob : Unable to find object: Nope__c"},
		{"application/json", `{"object":"Account","operation":"INSERT"}`, 400, "API_ERROR", "Invalid value: 'INSERT' supplied for property: 'operation'"},
		{"application/json", `{"object":"Account"}`, 400, "API_ERROR", "Invalid value: '' supplied for property: 'operation'"},
		{"application/json", `{"object":"Account","operation":"upsert"}`, 400, "INVALIDJOB", "InvalidJob : External ID was blank for Account. An External ID must be specified for upsert."},
		{"application/json", `{"object":"Account","operation":"upsert","externalIdFieldName":"Name"}`, 400, "INVALIDJOB", "InvalidJob : Field name provided, Name does not match an External ID for Account"},
		{"application/json", `{"object":"Account","operation":"insert","contentType":"JSON"}`, 400, "API_ERROR", "supplied for property: 'contentType'"},
		{"application/json", `{"object":"Account","operation":"insert","columnDelimiter":"COLON"}`, 400, "API_ERROR", "supplied for property: 'columnDelimiter'"},
		{"application/json", `{"object":"Account","operation":"insert","lineEnding":"CR"}`, 400, "API_ERROR", "supplied for property: 'lineEnding'"},
		{"application/json", `{"object":"Account","operation":"hardDelete"}`, 400, "FEATURENOTENABLED", "hardDelete operation requires special user profile permission"},
		{"application/json", `{"object":"Account",`, 400, "JSON_PARSER_ERROR", "not valid JSON"},
		{"application/json", `{"object":42,"operation":"insert"}`, 400, "API_ERROR", "Value does not match expected type"},
		{"application/json", `{"object":"Account","operation":"insert","colour":"red"}`, 400, "JSON_PARSER_ERROR", `Unrecognized field "colour"`},
		{"text/plain", `{"object":"Account","operation":"insert"}`, 415, "UNSUPPORTED_MEDIA_TYPE", "text/plain"},
	} {
		o.do("POST", "/jobs/ingest", c.contentType, c.body).wantError(t, c.status, c.code, c.message)
	}
	// go-salesforce sends an empty externalIdFieldName on every job.
	o.createJob(`{"object":"Account","operation":"insert","externalIdFieldName":""}`)
}

func TestJobStateRules(t *testing.T) {
	o := newOrg(t, Options{})
	id := o.createJob(`{"object":"Account","operation":"insert"}`)
	path := "/jobs/ingest/" + id
	o.do("DELETE", path, "", "").wantError(t, 400, "API_ERROR", "the job is not terminated")
	o.do("PATCH", path, "application/json", `{"state":"JobComplete"}`).wantError(t, 400, "INVALIDJOBSTATE", "JobComplete")
	o.do("PATCH", path, "application/json", `{"state":"Bogus"}`).wantError(t, 400, "API_ERROR", "Invalid value: 'Bogus' supplied for property: 'state'")
	o.do("PUT", path+"/batches", "application/json", "Name\nA\n").wantError(t, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json")
	if r := o.do("PUT", path+"/batches", "text/csv; charset=UTF-8", "Name\nA\n"); r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	o.do("PUT", path+"/batches", "text/csv", "Name\nB\n").wantError(t, 400, "BULK_API_ERROR",
		"Found multipe contents for job: <"+id[:15]+">, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job.")
	if r := o.do("PATCH", path, "application/json", `{"state":"Aborted"}`); r.status != 200 || r.json(t)["state"] != "Aborted" {
		t.Fatalf("abort: %d %s", r.status, r.body)
	}
	o.do("PATCH", path, "application/json", `{"state":"UploadComplete"}`).wantError(t, 400, "INVALIDJOBSTATE", "Closing already aborted Job not allowed")
	o.do("PATCH", path, "application/json", `{"state":"Aborted"}`).wantError(t, 400, "INVALIDJOBSTATE", "Aborting already aborted Job not allowed")
	if got := o.results(id, "unprocessedrecords"); got != "Name\nA\n" {
		t.Errorf("unprocessed rows of an aborted job: %q", got)
	}

	done, _ := o.load(`{"object":"Account","operation":"insert"}`, "Name\nA\n")
	o.do("PATCH", "/jobs/ingest/"+done, "application/json", `{"state":"Aborted"}`).wantError(t, 400, "INVALIDJOBSTATE", "Aborting already Completed Job not allowed")
	o.do("PUT", "/jobs/ingest/"+done+"/batches", "text/csv", "Name\nB\n").wantError(t, 400, "BULK_API_ERROR", "Found multipe contents")
	o.do("GET", "/jobs/ingest/7508c0000000999AAA", "", "").wantError(t, 404, "NOT_FOUND", "")
	o.do("POST", "/jobs/ingest/"+done, "application/json", "{}").wantError(t, 405, "METHOD_NOT_ALLOWED", "HTTP Method 'POST' not allowed. Allowed are GET,PATCH,DELETE")
	o.do("GET", "/jobs/ingest/"+done+"/nothing", "", "").wantError(t, 404, "NOT_FOUND", "")
	r := o.send("GET", o.url+"/services/data/v20.0/jobs/ingest", "", "", nil)
	r.wantError(t, 410, "API_VERSION_RETIRED", "20.0")
}

// Whole-job failures that Salesforce reports in errorMessage.
func TestJobFailsOnBadUpload(t *testing.T) {
	o := newOrg(t, Options{})
	for _, c := range []struct{ job, csv, message string }{
		{`{"object":"Account","operation":"insert"}`, "Name,Bogus__c\nA,1\n", "InvalidBatch : Field name not found : Bogus__c"},
		{`{"object":"Account","operation":"insert"}`, "\ufeffName\nA\n", "InvalidBatch : Field name not found : \ufeffName"},
		{`{"object":"Account","operation":"insert"}`, "Name\r\nA\r\n", "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF"},
		{`{"object":"Account","operation":"insert","lineEnding":"CRLF"}`, "Name\nA\n", "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is CRLF"},
		{`{"object":"Account","operation":"insert"}`, "Name\n\"Acme\n", "InvalidBatch : Failed to parse CSV."},
		{`{"object":"Account","operation":"insert"}`, "Name\nAc\"me\n", "InvalidBatch : Failed to parse CSV. Found unescaped quote"},
		{`{"object":"Account","operation":"delete"}`, "Id,Name\n0018c0000000001AAA,A\n", "InvalidBatch : The 'delete' batch must contain only ids"},
		{`{"object":"Account","operation":"insert"}`, "Name," + strings.Repeat("Description,", 3000) + "\nA\n", "InvalidBatch : The header row is longer than 32,000 characters"},
		{`{"object":"Contact","operation":"insert"}`, "LastName,Owner.Email\nA,x@y.z\n", "InvalidBatch : Field name not found : Owner.Email"},
		{`{"object":"Account","operation":"insert"}`, "Name,name\nA,B\n", "InvalidBatch : Duplicate field name"},
		{`{"object":"Account","operation":"insert"}`, "", "ClientInputError : No data found in the upload"},
	} {
		id, info := o.load(c.job, c.csv)
		if info["state"] != "Failed" || !strings.HasPrefix(info["errorMessage"].(string), c.message) {
			t.Errorf("%q: state %v, errorMessage %q; want Failed, %q", c.csv, info["state"], info["errorMessage"], c.message)
		}
		if got := o.results(id, "successfulResults"); c.csv != "" && !strings.HasPrefix(got, `"sf__Id","sf__Created",`) {
			t.Errorf("successful results of a failed job: %q", got)
		}
	}
}

func TestMultipartCreateUploadsAndCloses(t *testing.T) {
	o := newOrg(t, Options{})
	body := "--BOUNDARY\r\nContent-Type: application/json\r\nContent-Disposition: form-data; name=\"job\"\r\n\r\n" +
		`{"object":"Contact","contentType":"CSV","operation":"insert","lineEnding":"LF"}` +
		"\r\n--BOUNDARY\r\nContent-Type: text/csv\r\nContent-Disposition: form-data; name=\"content\"; filename=\"content\"\r\n\r\n" +
		"LastName,Email\nDoe,doe@example.com\n\r\n--BOUNDARY--\r\n"
	r := o.do("POST", "/jobs/ingest", `multipart/form-data; boundary="BOUNDARY"`, body)
	if r.status != 200 {
		t.Fatalf("multipart create: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["state"] != "UploadComplete" || m["contentUrl"] != nil {
		t.Fatalf("multipart create answered %s", r.body)
	}
	info := o.wait("/jobs/ingest/" + m["id"].(string))
	if info["state"] != "JobComplete" || info["numberRecordsProcessed"] != 1.0 {
		t.Fatalf("multipart job: %v", info)
	}
	big := strings.Replace(body, "Doe,doe@example.com\n", strings.Repeat("Doe,doe@example.com\n", 6000), 1)
	o.do("POST", "/jobs/ingest", "multipart/form-data; boundary=BOUNDARY", big).wantError(t, 400, "API_ERROR", "100,000 characters")
}

func TestGzipBothWays(t *testing.T) {
	o := newOrg(t, Options{})
	id := o.createJob(`{"object":"Account","operation":"insert"}`)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte("Name\nZipped Inc\n"))
	zw.Close()
	r := o.send("PUT", o.url+"/services/data/v62.0/jobs/ingest/"+id+"/batches", "text/csv", zipped.String(), http.Header{"Content-Encoding": {"gzip"}})
	if r.status != 201 {
		t.Fatalf("gzip upload: %d %s", r.status, r.body)
	}
	o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete"}`)
	o.wait("/jobs/ingest/" + id)
	r = o.send("GET", o.url+"/services/data/v62.0/jobs/ingest/"+id+"/successfulResults", "", "", http.Header{"Accept-Encoding": {"gzip"}})
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("results not compressed: %v", r.header)
	}
	zr, err := gzip.NewReader(strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !strings.Contains(string(plain), `"true","Zipped Inc"`) {
		t.Fatalf("decompressed results: %q", plain)
	}
}

func TestListJobsPages(t *testing.T) {
	o := newOrg(t, Options{})
	for i := 0; i < 1001; i++ {
		o.emu.jobs.add(&job{object: o.emu.schema.Object("Account"), operation: "insert", apiVersion: "62.0", state: stateOpen, delimiter: "COMMA", lineEnding: "LF"})
	}
	var first struct {
		Done           bool              `json:"done"`
		Records        []json.RawMessage `json:"records"`
		NextRecordsURL *string           `json:"nextRecordsUrl"`
	}
	json.Unmarshal([]byte(o.do("GET", "/jobs/ingest", "", "").body), &first)
	if first.Done || len(first.Records) != 1000 || first.NextRecordsURL == nil {
		t.Fatalf("first page: done %v, %d records, next %v", first.Done, len(first.Records), first.NextRecordsURL)
	}
	second := o.send("GET", o.url+*first.NextRecordsURL, "", "", nil).json(t)
	if second["done"] != true || len(second["records"].([]any)) != 1 || second["nextRecordsUrl"] != nil {
		t.Fatalf("second page: %v", second)
	}
}

func TestDescribeAndLimits(t *testing.T) {
	o := newOrg(t, Options{DailyAPIRequests: 5})
	d := o.do("GET", "/sobjects/contact/describe/", "", "").json(t)
	if d["name"] != "Contact" || d["keyPrefix"] != "003" {
		t.Fatalf("describe: %v", d)
	}
	found := false
	for _, f := range d["fields"].([]any) {
		f := f.(map[string]any)
		if f["name"] == "AccountId" {
			found = true
			if f["type"] != "reference" || f["relationshipName"] != "Account" || f["referenceTo"].([]any)[0] != "Account" || f["nillable"] != true {
				t.Errorf("AccountId: %v", f)
			}
		}
		for _, k := range []string{"name", "type", "length", "nillable", "createable", "updateable", "externalId", "idLookup", "unique", "referenceTo", "relationshipName"} {
			if _, ok := f[k]; !ok {
				t.Fatalf("field %v lacks %s", f["name"], k)
			}
		}
	}
	if !found {
		t.Fatal("Contact has no AccountId")
	}
	o.do("GET", "/sobjects/Nope/describe", "", "").wantError(t, 404, "NOT_FOUND", "")
	l := o.do("GET", "/limits", "", "").json(t)
	if l["DailyApiRequests"].(map[string]any)["Max"] != 5.0 {
		t.Fatalf("limits: %v", l)
	}
	o.do("GET", "/limits", "", "")
	o.do("GET", "/limits", "", "")
	r := o.do("GET", "/limits", "", "")
	r.wantError(t, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
	if r.header.Get("Sforce-Limit-Info") != "api-usage=5/5" {
		t.Errorf("Sforce-Limit-Info at the limit: %q", r.header.Get("Sforce-Limit-Info"))
	}
}

// Page parameters as large as an int holds, or that the emulator did not
// give, get a page or a Salesforce-style error: never a 500 from an
// overflowing offset.
func TestHugeAndForeignPageParameters(t *testing.T) {
	o := newOrg(t, Options{})
	o.load(`{"object":"Account","operation":"insert"}`, "Name\nA\nB\nC\n")
	body, _ := json.Marshal(map[string]string{"operation": "query", "query": "SELECT Name FROM Account"})
	id := o.do("POST", "/jobs/query", "application/json", string(body)).json(t)["id"].(string)
	o.wait("/jobs/query/" + id)

	locator := o.do("GET", "/jobs/query/"+id+"/results?maxRecords=1", "", "").header.Get("Sforce-Locator")
	page := o.do("GET", "/jobs/query/"+id+"/results?maxRecords=9223372036854775807&locator="+locator, "", "")
	if page.status != http.StatusOK || page.header.Get("Sforce-NumberOfRecords") != "2" || page.header.Get("Sforce-Locator") != "null" {
		t.Fatalf("second page, maxRecords=MaxInt64: %d, %s records, locator %s: %s", page.status, page.header.Get("Sforce-NumberOfRecords"), page.header.Get("Sforce-Locator"), page.body)
	}
	if r := o.do("GET", "/jobs/query/"+id+"/results?locator=bm90LWEtbnVtYmVy", "", ""); r.status != http.StatusBadRequest || !strings.Contains(r.body, "INVALID_LOCATOR") {
		t.Fatalf("foreign locator: %d %s", r.status, r.body)
	}
	if r := o.do("GET", "/jobs/query/"+id+"/results?maxRecords=-1", "", ""); r.status != http.StatusBadRequest || !strings.Contains(r.body, "maxRecords") {
		t.Fatalf("maxRecords=-1: %d %s", r.status, r.body)
	}

	list := o.do("GET", "/jobs/ingest?queryLocator=01g-9223372036854775807", "", "")
	if list.status != http.StatusOK || !strings.Contains(list.body, `"records":[]`) {
		t.Fatalf("queryLocator at MaxInt64: %d %s", list.status, list.body)
	}
	if r := o.do("GET", "/jobs/ingest?queryLocator=nonsense", "", ""); r.status != http.StatusBadRequest || !strings.Contains(r.body, "INVALID_QUERY_LOCATOR") {
		t.Fatalf("foreign queryLocator: %d %s", r.status, r.body)
	}
}

// A job deleted right after its close, before its goroutine ran (its
// upload already dropped), is not processed: processing it panicked on the
// missing upload and failed the deleted job.
func TestDeleteRightAfterClose(t *testing.T) {
	var log lockedBuffer
	o := newOrg(t, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	for i := 0; i < 1000; i++ {
		id := o.createJob(`{"object":"Account","operation":"insert"}`)
		o.do("PUT", "/jobs/ingest/"+id+"/batches", "text/csv", "Name\nA\n")
		o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete"}`)
		if r := o.do("DELETE", "/jobs/ingest/"+id, "", ""); r.status != http.StatusNoContent && r.status != http.StatusBadRequest {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
	}
	o.emu.Close()
	for _, l := range strings.Split(log.String(), "\n") {
		if strings.Contains(l, "panic") {
			t.Fatal(l[:min(len(l), 600)])
		}
	}
}

// lockedBuffer is a log destination that the emulator's goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The answers of README's error table that no other test names.
func TestLesserErrors(t *testing.T) {
	o := newOrg(t, Options{})
	r := o.send("GET", o.url+"/services/data/v62.0/jobs/ingest", "", "", http.Header{"Authorization": {"Basic Ym9iOnNlY3JldA=="}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"INVALID_AUTH_HEADER"`) {
		t.Errorf("Basic authorization: %d %s", r.status, r.body)
	}
	if r := o.send("GET", o.url+"/services/oauth2/token", "", "", nil); r.status != http.StatusMethodNotAllowed || !strings.Contains(r.body, `"invalid_request"`) {
		t.Errorf("GET of the token endpoint: %d %s", r.status, r.body)
	}

	_, info := o.load(`{"object":"Account","operation":"insert"}`, "Id,Name\n0018c0000000001AAA,A\n")
	if info["numberRecordsFailed"] != 1.0 {
		t.Errorf("an Id in an insert: %v", info)
	}
	if f := o.results(info["id"].(string), "failedResults"); !strings.Contains(f, "INVALID_FIELD_FOR_INSERT_UPDATE:") {
		t.Errorf("an Id in an insert: %s", f)
	}

	body, _ := json.Marshal(map[string]string{"operation": "query", "query": "SELECT Name FROM Account"})
	id := o.do("POST", "/jobs/query", "application/json", string(body)).json(t)["id"].(string)
	o.wait("/jobs/query/" + id)
	r = o.send("GET", o.url+"/services/data/v61.0/jobs/query/"+id+"/results", "", "", nil)
	if r.status != http.StatusConflict || !strings.Contains(r.body, `"INVALIDJOBSTATE"`) {
		t.Errorf("results read with another API version: %d %s", r.status, r.body)
	}
}
