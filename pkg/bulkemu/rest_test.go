package bulkemu

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// What `sf org login access-token` reads before it saves a login: the user
// info, the User record, the scratch-org probe (refused: not a Dev Hub),
// the version list, and the Organization by REST query, through paths
// that begin with "//" because the CLI keeps the instance URL with a
// trailing slash.
func TestSalesforceCLILoginResources(t *testing.T) {
	o := newOrg(t, Options{Username: "ops@acme.example"})
	info := o.send("GET", o.url+"/services/oauth2/userinfo", "", "", nil)
	var user struct {
		UserID            string `json:"user_id"`
		OrganizationID    string `json:"organization_id"`
		PreferredUsername string `json:"preferred_username"`
		Sub               string `json:"sub"`
	}
	if err := json.Unmarshal([]byte(info.body), &user); err != nil || info.status != http.StatusOK {
		t.Fatalf("userinfo: %d %s", info.status, info.body)
	}
	if user.UserID != userID || user.OrganizationID != orgID || user.PreferredUsername != "ops@acme.example" || user.Sub != o.url+"/id/"+orgID+"/"+userID {
		t.Fatalf("userinfo: %+v", user)
	}
	rec := o.send("GET", o.url+"//services/data/v51.0/sobjects/User/"+user.UserID, "", "", nil).json(t)
	if rec["Username"] != "ops@acme.example" || rec["IsActive"] != true || rec["Id"] != userID {
		t.Fatalf("User record: %v", rec)
	}
	if attr := rec["attributes"].(map[string]any); attr["type"] != "User" || attr["url"] != "/services/data/v51.0/sobjects/User/"+userID {
		t.Fatalf("User attributes: %v", attr)
	}
	o.send("GET", o.url+"//services/data/v51.0/query?q="+url.QueryEscape("SELECT Id FROM ScratchOrgInfo limit 1"), "", "", nil).
		wantError(t, 400, "INVALID_TYPE", "sObject type 'ScratchOrgInfo' is not supported")
	if r := o.send("GET", o.url+"//services/data", "", "", nil); r.status != http.StatusOK || !strings.Contains(r.body, `"version":"66.0"`) {
		t.Fatalf("version list: %d %s", r.status, r.body)
	}
	q := o.send("GET", o.url+"//services/data/v66.0/query?q="+url.QueryEscape("SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, OrganizationType FROM Organization"), "", "", nil)
	want := `{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Organization","url":"/services/data/v66.0/sobjects/Organization/00D8c0000000001EAA"},` +
		`"Name":"Bulkstream Emulator","InstanceName":"EMU1","IsSandbox":false,"TrialExpirationDate":null,"NamespacePrefix":null,"OrganizationType":"Developer Edition"}]}`
	if q.status != http.StatusOK || q.body != want {
		t.Fatalf("Organization query: %d\n got %s\nwant %s", q.status, q.body, want)
	}
	o.do("GET", "/query?q="+url.QueryEscape("SELECT Bogus FROM Organization"), "", "").
		wantError(t, 400, "INVALID_FIELD", "No such column 'Bogus' on entity 'Organization'")
	root := o.do("GET", "", "", "").json(t)
	if root["identity"] != o.url+"/id/"+orgID+"/"+userID || root["query"] != "/services/data/v62.0/query" {
		t.Fatalf("version root: %v", root)
	}
}

// The identity URL of a token response answers with the user and org (its
// ids in 18 or 15 characters, as Salesforce takes either), and userinfo and the identity URL refuse a request without a valid token.
func TestIdentityURL(t *testing.T) {
	o := newOrg(t, Options{})
	tok := o.postToken(url.Values{"grant_type": {"client_credentials"}, "client_id": {"bulkstream"}, "client_secret": {"bulkstream"}}).json(t)
	id := tok["id"].(string)
	r := o.send("GET", id, "", "", http.Header{"Authorization": {"Bearer " + tok["access_token"].(string)}})
	if m := r.json(t); r.status != http.StatusOK || m["user_id"] != userID || m["organization_id"] != orgID || m["username"] != "emulator@bulkstream.example" {
		t.Fatalf("identity: %d %s", r.status, r.body)
	}
	for _, u := range []string{id, o.url + "/services/oauth2/userinfo"} {
		if r := o.send("GET", u, "", "", http.Header{"Authorization": {"Bearer 00Dnope"}}); r.status != http.StatusForbidden || r.body != "Bad_OAuth_Token" {
			t.Errorf("%s with a bad token: %d %q", u, r.status, r.body)
		}
	}
	if r := o.send("GET", o.url+"/id/"+orgID[:15]+"/"+userID[:15], "", "", nil); r.status != http.StatusOK {
		t.Errorf("identity by 15-character ids: %d %s", r.status, r.body)
	}
	if r := o.send("GET", o.url+"/id/"+orgID+"/"+makeID("005", 2), "", "", nil); r.status != http.StatusNotFound {
		t.Errorf("identity of another user: %d %s", r.status, r.body)
	}
}

// The REST query reads the org's records too: typed JSON values, parent
// fields nested under the relationship name, null for a missing parent,
// deleted records only through queryAll.
func TestRESTQuery(t *testing.T) {
	o := newOrg(t, Options{})
	o.load(`{"object":"Account","operation":"insert"}`, "Name,External_Id__c,NumberOfEmployees\nAcme,A-1,12\n")
	o.load(`{"object":"Contact","operation":"insert"}`, "LastName,Account.External_Id__c,HasOptedOutOfEmail\nLee,A-1,true\nPark,,false\n")
	q := o.do("GET", "/query?q="+url.QueryEscape("SELECT LastName, HasOptedOutOfEmail, Account.Name, Account.NumberOfEmployees FROM Contact ORDER BY LastName"), "", "")
	want := `{"totalSize":2,"done":true,"records":[` +
		`{"attributes":{"type":"Contact","url":"/services/data/v62.0/sobjects/Contact/0038c0000000001AAA"},"LastName":"Lee","HasOptedOutOfEmail":true,` +
		`"Account":{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/0018c0000000001AAA"},"Name":"Acme","NumberOfEmployees":12}},` +
		`{"attributes":{"type":"Contact","url":"/services/data/v62.0/sobjects/Contact/0038c0000000002AAA"},"LastName":"Park","HasOptedOutOfEmail":false,"Account":null}]}`
	if q.status != http.StatusOK || q.body != want {
		t.Fatalf("query: %d\n got %s\nwant %s", q.status, q.body, want)
	}
	o.load(`{"object":"Contact","operation":"delete"}`, "Id\n0038c0000000002AAA\n")
	soql := url.QueryEscape("SELECT LastName FROM Contact")
	if n := o.do("GET", "/query?q="+soql, "", "").json(t)["totalSize"]; n != 1.0 {
		t.Errorf("query after a delete: totalSize %v, want 1", n)
	}
	if n := o.do("GET", "/queryAll?q="+soql, "", "").json(t)["totalSize"]; n != 2.0 {
		t.Errorf("queryAll after a delete: totalSize %v, want 2", n)
	}
	o.do("GET", "/query", "", "").wantError(t, 400, "MALFORMED_QUERY", "A query string has to be specified")
	o.do("GET", "/sobjects/Contact/0038c0000000002AAA", "", "").wantError(t, 404, "NOT_FOUND", "does not exist")
}

// The username-password flow is off until a password is set; then it takes
// the client's credentials and the user's (username in any case), and
// answers like Salesforce's sample: signed, no scope.
func TestPasswordGrant(t *testing.T) {
	form := url.Values{"grant_type": {"password"}, "client_id": {"bulkstream"}, "client_secret": {"bulkstream"},
		"username": {"Emulator@Bulkstream.example"}, "password": {"hunter2TOKEN"}}
	off := newOrg(t, Options{})
	if r := off.postToken(form); r.status != 400 || !strings.Contains(r.body, `"unsupported_grant_type"`) {
		t.Fatalf("password flow off: %d %s", r.status, r.body)
	}
	o := newOrg(t, Options{Password: "hunter2TOKEN"})
	r := o.postToken(form)
	tok := r.json(t)
	if r.status != http.StatusOK || tok["access_token"] == nil || tok["signature"] == nil || tok["issued_at"] == nil || tok["scope"] != nil {
		t.Fatalf("password grant: %d %s", r.status, r.body)
	}
	if got := o.send("GET", o.url+"/services/data/v62.0/limits", "", "", http.Header{"Authorization": {"Bearer " + tok["access_token"].(string)}}); got.status != http.StatusOK {
		t.Fatalf("token from the password grant refused: %d %s", got.status, got.body)
	}
	for name, change := range map[string]struct {
		key, value, want string
	}{
		"wrong password": {"password", "hunter2", `{"error":"invalid_grant","error_description":"authentication failure"}`},
		"other user":     {"username", "someone@else.example", `{"error":"invalid_grant","error_description":"authentication failure"}`},
		"wrong secret":   {"client_secret", "nope", `{"error":"invalid_client","error_description":"invalid client credentials"}`},
		"wrong client":   {"client_id", "nope", `{"error":"invalid_client_id","error_description":"client identifier invalid"}`},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set(change.key, change.value)
		if r := o.postToken(f); r.status != 400 || !sameJSON(r.body, change.want) {
			t.Errorf("%s: %d %s, want 400 %s", name, r.status, r.body, change.want)
		}
	}
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// A close or abort may carry the job's own properties, as go-salesforce
// sends its id; a property a job does not have is still refused.
func TestStateChangeTakesJobProperties(t *testing.T) {
	o := newOrg(t, Options{})
	id := o.createJob(`{"object":"Account","operation":"insert"}`)
	o.do("PUT", "/jobs/ingest/"+id+"/batches", "text/csv", "Name\nAcme\n")
	o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete","color":"blue"}`).
		wantError(t, 400, "JSON_PARSER_ERROR", `Unrecognized field "color"`)
	r := o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"id":"`+id+`","object":"Account","operation":"insert","contentType":"CSV","apiVersion":62.0,"state":"UploadComplete"}`)
	if r.status != http.StatusOK || r.json(t)["state"] != stateUploadComplete {
		t.Fatalf("close with the job's id: %d %s", r.status, r.body)
	}
	if info := o.wait("/jobs/ingest/" + id); info["state"] != stateJobComplete {
		t.Fatalf("job ended %v", info)
	}
}

// Job timestamps are whole seconds, as Salesforce's read (.000+0000).
func TestJobTimestampsWholeSeconds(t *testing.T) {
	o := newOrg(t, Options{Now: func() time.Time { return time.Date(2026, 3, 21, 20, 3, 25, 225_000_000, time.UTC) }})
	job := o.do("POST", "/jobs/ingest", "application/json", `{"object":"Account","operation":"insert"}`).json(t)
	if job["createdDate"] != "2026-03-21T20:03:25.000+0000" || job["systemModstamp"] != "2026-03-21T20:03:25.000+0000" {
		t.Fatalf("timestamps %v %v, want 2026-03-21T20:03:25.000+0000", job["createdDate"], job["systemModstamp"])
	}
}
