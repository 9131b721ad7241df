package bulkemu

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// byExternalID indexes an object's records by External_Id__c.
func byExternalID(e *Emulator, object string) map[string]Record {
	out := map[string]Record{}
	for _, r := range e.Records(object) {
		out[r.Fields["External_Id__c"]] = r
	}
	return out
}

// failedRows returns the sf__Error of each failed row, keyed by the value
// of the column named key.
func failedRows(t *testing.T, o *org, id, key string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(o.results(id, "failedResults"), "\n"), "\n")
	header := strings.Split(lines[0], ",")
	col := -1
	for i, h := range header {
		if h == key {
			col = i
		}
	}
	out := map[string]string{}
	for _, l := range lines[1:] {
		r := newCSVReader([]byte(l), ',', false)
		f, _, _, err := r.next(nil)
		if err != nil {
			t.Fatalf("failed results line %q: %v", l, err)
		}
		out[f[col]] = f[1]
	}
	return out
}

func TestUpsertInsertsUpdatesAndKeepsOmittedFields(t *testing.T) {
	o := newOrg(t, Options{})
	o.load(`{"object":"Account","operation":"insert"}`, "Name,External_Id__c,Industry,Phone\nAcme,A-1,Energy,555\nGlobex,A-2,Retail,666\n")
	id, info := o.load(`{"object":"Account","operation":"upsert","externalIdFieldName":"External_Id__c"}`,
		"External_Id__c,Name,Industry,Phone\n"+
			"a-1,Acme Corp,,#N/A\n"+ // case-insensitive key; empty leaves Industry; #N/A clears Phone
			"A-3,Initech,Tech,\n"+
			"A-4,,Tech,\n"+ // create without Name
			",Nobody,,\n") // no key
	if info["numberRecordsProcessed"] != 4.0 || info["numberRecordsFailed"] != 2.0 {
		t.Fatalf("counters: %v", info)
	}
	ok := o.results(id, "successfulResults")
	if !strings.Contains(ok, `"0018c0000000001AAA","false","a-1","Acme Corp","","#N/A"`) || !strings.Contains(ok, `"true","A-3","Initech","Tech",""`) {
		t.Fatalf("successful results:\n%s", ok)
	}
	failed := failedRows(t, o, id, "External_Id__c")
	if failed["A-4"] != "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --" || failed[""] != "MISSING_ARGUMENT:External_Id__c not specified:--" {
		t.Fatalf("failures: %v", failed)
	}
	recs := byExternalID(o.emu, "Account")
	a1 := recs["a-1"].Fields // the upsert also rewrote the key's case
	if a1["Name"] != "Acme Corp" || a1["Industry"] != "Energy" || a1["Phone"] != "" {
		t.Errorf("A-1 after upsert: %v", a1)
	}
	if _, ok := a1["Phone"]; ok {
		t.Errorf("#N/A did not null Phone: %v", a1)
	}
	if len(recs) != 3 {
		t.Errorf("records: %v", recs)
	}
}

func TestUpsertByIdAndDuplicateKeysInOneJob(t *testing.T) {
	o := newOrg(t, Options{})
	o.load(`{"object":"Account","operation":"insert"}`, "Name\nFirst\n")
	id, _ := o.load(`{"object":"Account","operation":"upsert","externalIdFieldName":"Id"}`,
		"Id,Name\n0018c0000000001AAA,Renamed\n,Brand New\n0018c0000000099AAA,Ghost\n")
	if ok := o.results(id, "successfulResults"); !strings.Contains(ok, `"0018c0000000001AAA","false"`) || !strings.Contains(ok, `"0018c0000000002AAA","true"`) {
		t.Fatalf("upsert by Id:\n%s", ok)
	}
	if f := failedRows(t, o, id, "Id"); f["0018c0000000099AAA"] != "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--" {
		t.Fatalf("unknown id: %v", f)
	}

	id, _ = o.load(`{"object":"Account","operation":"upsert","externalIdFieldName":"External_Id__c"}`,
		"External_Id__c,Name\nK-1,One\nk-1,Two\nK-2,Other\n")
	f := failedRows(t, o, id, "Name")
	if len(f) != 2 || f["One"] != "DUPLICATE_VALUE:Duplicate external id specified: K-1:External_Id__c --" {
		t.Fatalf("two rows with one key: %v", f)
	}
	id, _ = o.load(`{"object":"Account","operation":"insert"}`, "External_Id__c,Name\nK-2,Clash\n")
	if f := failedRows(t, o, id, "Name"); !strings.HasPrefix(f["Clash"], "DUPLICATE_VALUE:duplicate value found: External_Id__c duplicates value on record with id: 001") {
		t.Fatalf("insert of a taken external id: %v", f)
	}
}

func TestUpdateAndDeleteByID(t *testing.T) {
	o := newOrg(t, Options{HardDeleteAllowed: true})
	o.load(`{"object":"Account","operation":"insert"}`, "Name,Industry\nA,Energy\nB,Retail\nC,Tech\n")
	id, _ := o.load(`{"object":"Account","operation":"update"}`,
		"Id,Name,Industry\n0018c0000000001AAA,A2,\n0018c0000000002aaa,,#N/A\nnot-an-id,X,\n0038c0000000001AAA,X,\n0018c0000000077AAA,X,\n0018c0000000003AAA,#N/A,\n")
	f := failedRows(t, o, id, "Id")
	want := map[string]string{
		"not-an-id":          "MALFORMED_ID:Account ID: id value of incorrect type: not-an-id:Id --",
		"0038c0000000001AAA": "MALFORMED_ID:Account ID: id value of incorrect type: 0038c0000000001AAA:Id --",
		"0018c0000000077AAA": "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--",
		"0018c0000000003AAA": "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("update %s: %q, want %q", k, f[k], v)
		}
	}
	if got := o.results(id, "failedResults"); !strings.Contains(got, `"0018c0000000003AAA","REQUIRED_FIELD_MISSING`) {
		t.Errorf("a failed update of an existing record must echo its Id in sf__Id:\n%s", got)
	}
	recs := o.emu.Records("Account")
	if recs[0].Fields["Name"] != "A2" || recs[0].Fields["Industry"] != "Energy" || recs[1].Fields["Industry"] != "" || recs[1].Fields["Name"] != "B" {
		t.Fatalf("after update: %v", recs)
	}

	id, _ = o.load(`{"object":"Account","operation":"delete"}`, "Id\n0018c0000000001AAA\n")
	if !strings.Contains(o.results(id, "successfulResults"), `"0018c0000000001AAA","false","0018c0000000001AAA"`) {
		t.Fatal("delete did not succeed")
	}
	id, _ = o.load(`{"object":"Account","operation":"delete"}`, "Id\n0018c0000000001AAA\n")
	if f := failedRows(t, o, id, "Id"); f["0018c0000000001AAA"] != "ENTITY_IS_DELETED:entity is deleted:--" {
		t.Fatalf("second delete: %v", f)
	}
	o.load(`{"object":"Account","operation":"update"}`, "Id,Name\n0018c0000000001AAA,Zombie\n")
	if r := o.emu.Records("Account")[0]; !r.Deleted || r.Fields["Name"] != "A2" {
		t.Fatalf("a deleted record was updated: %v", r)
	}
	// query skips the recycle bin, queryAll shows it; hardDelete empties it.
	if r := o.emu.Records("Account"); len(r) != 3 {
		t.Fatalf("records: %v", r)
	}
	o.load(`{"object":"Account","operation":"hardDelete"}`, "Id\n0018c0000000001AAA\n0018c0000000002AAA\n")
	if r := o.emu.Records("Account"); len(r) != 1 || r[0].Fields["Name"] != "C" {
		t.Fatalf("after hardDelete: %v", r)
	}
}

func TestDeletedExternalIDIsFreeAgain(t *testing.T) {
	o := newOrg(t, Options{})
	o.load(`{"object":"Account","operation":"upsert","externalIdFieldName":"External_Id__c"}`, "External_Id__c,Name\nR-1,Old\n")
	o.load(`{"object":"Account","operation":"delete"}`, "Id\n0018c0000000001AAA\n")
	id, _ := o.load(`{"object":"Account","operation":"upsert","externalIdFieldName":"External_Id__c"}`, "External_Id__c,Name\nR-1,New\n")
	if !strings.Contains(o.results(id, "successfulResults"), `"0018c0000000002AAA","true"`) {
		t.Fatalf("upsert after delete did not create a new record:\n%s", o.results(id, "successfulResults"))
	}
}

func TestRelationshipColumns(t *testing.T) {
	o := newOrg(t, Options{})
	o.load(`{"object":"Account","operation":"insert"}`, "Name,External_Id__c\nParent,P-1\n")
	id, _ := o.load(`{"object":"Contact","operation":"insert"}`,
		"LastName,Account.External_Id__c,Email\nKid,p-1,kid@example.com\nOrphan,P-404,\nBadMail,P-1,not-an-email\n")
	f := failedRows(t, o, id, "LastName")
	if f["Orphan"] != "INVALID_FIELD:Foreign key external ID: P-404 not found for field External_Id__c in entity Account:--" {
		t.Errorf("missing parent: %q", f["Orphan"])
	}
	if f["BadMail"] != "INVALID_EMAIL_ADDRESS:Email: invalid email address: not-an-email:Email --" {
		t.Errorf("bad email: %q", f["BadMail"])
	}
	c := o.emu.Records("Contact")
	if len(c) != 1 || c[0].Fields["AccountId"] != "0018c0000000001AAA" {
		t.Fatalf("contacts: %v", c)
	}
	id, _ = o.load(`{"object":"Contact","operation":"insert"}`, "LastName,AccountId\nDirect,0018c0000000001AAA\nWrong,0038c0000000001AAA\n")
	if f := failedRows(t, o, id, "LastName"); f["Wrong"] != "MALFORMED_ID:Account ID: id value of incorrect type: 0038c0000000001AAA:AccountId --" {
		t.Errorf("reference to the wrong object: %v", f)
	}
}

func TestFieldTypes(t *testing.T) {
	o := newOrg(t, Options{})
	id, _ := o.load(`{"object":"Opportunity","operation":"insert"}`,
		"Name,StageName,CloseDate,Amount,Probability,IsPrivate,Description\n"+
			"ok,New,2024-02-29,1.5e3,50,TRUE,fine\n"+
			"bad date,New,2024-02-30,1,1,false,\n"+
			"bad amount,New,2024-01-01,lots,1,false,\n"+
			"bad bool,New,2024-01-01,1,1,maybe,\n"+
			"too long,New,2024-01-01,1,1,false,"+strings.Repeat("x", 32001)+"\n"+
			"no stage,,2024-01-01,1,1,false,\n")
	f := failedRows(t, o, id, "Name")
	for name, prefix := range map[string]string{
		"bad date":   "INVALID_FIELD:Failed to deserialize field at col 3. Due to, '2024-02-30' is not a valid value for the type xsd:date:CloseDate --",
		"bad amount": "INVALID_FIELD:Failed to deserialize field at col 4. Due to, 'lots' is not a valid value for the type xsd:double:Amount --",
		"bad bool":   "INVALID_FIELD:Failed to deserialize field at col 6. Due to, 'maybe' is not a valid value for the type xsd:boolean:IsPrivate --",
		"too long":   "STRING_TOO_LONG:Description: data value too large: xxx",
		"no stage":   "REQUIRED_FIELD_MISSING:Required fields are missing: [StageName]:StageName --",
	} {
		if !strings.HasPrefix(f[name], prefix) {
			t.Errorf("%s: %q, want prefix %q", name, f[name], prefix)
		}
	}
	opp := o.emu.Records("Opportunity")
	if len(opp) != 1 || opp[0].Fields["Amount"] != "1500" || opp[0].Fields["IsPrivate"] != "true" || opp[0].Fields["CloseDate"] != "2024-02-29" {
		t.Fatalf("stored values: %v", opp)
	}
	o.load(`{"object":"Contact","operation":"insert"}`, "LastName,Birthdate\nZ,1940-06-07Z\n")
	if c := o.emu.Records("Contact"); c[0].Fields["Birthdate"] != "1940-06-07" {
		t.Errorf("date with Z: %v", c)
	}
}

func TestQueryAndQueryAll(t *testing.T) {
	o := newOrg(t, Options{QueryPageSize: 2})
	o.load(`{"object":"Account","operation":"insert"}`, "Name,External_Id__c\nA,Q-1\nB,Q-2\nC,Q-3\n")
	o.load(`{"object":"Contact","operation":"insert"}`, "LastName,Account.External_Id__c\nKid,Q-1\n")
	o.load(`{"object":"Account","operation":"delete"}`, "Id\n0018c0000000002AAA\n")
	if got := o.query("query", "SELECT Name FROM Account ORDER BY Name DESC"); got != "\"Name\"\n\"C\"\n\"A\"\n" {
		t.Errorf("query over pages: %q", got)
	}
	if got := o.query("queryAll", "SELECT Name, IsDeleted FROM Account WHERE Name = 'b'"); got != "\"Name\",\"IsDeleted\"\n\"B\",\"true\"\n" {
		t.Errorf("queryAll: %q", got)
	}
	if got := o.query("query", "SELECT LastName, Account.External_Id__c FROM Contact"); got != "\"LastName\",\"Account.External_Id__c\"\n\"Kid\",\"Q-1\"\n" {
		t.Errorf("parent field: %q", got)
	}
}

func TestRowsWithTheWrongNumberOfColumnsFail(t *testing.T) {
	o := newOrg(t, Options{})
	id, info := o.load(`{"object":"Account","operation":"insert"}`, "Name,Industry\nShort\nLong,Energy,extra\nRight,Energy\n")
	if info["numberRecordsFailed"] != 2.0 || len(o.emu.Records("Account")) != 1 {
		t.Fatalf("job: %v", info)
	}
	if got := o.results(id, "failedResults"); strings.Count(got, "INVALID_FIELD:Row has a different number of columns than the header:--") != 2 {
		t.Fatalf("failed results:\n%s", got)
	}
}

// schemaOf loads a schema file of the given YAML, written to a test's
// temporary directory.
func schemaOf(t *testing.T, yaml string) *Schema {
	t.Helper()
	path := t.TempDir() + "/org.yaml"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	schema, err := LoadSchemaFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// A value that does not parse as its field's type fails as a real org fails
// it, naming the column (from 1) and the SOAP type; a restricted picklist
// takes only its values, an unrestricted one anything.
func TestTypeErrorsAsSalesforce(t *testing.T) {
	schema := schemaOf(t, "objects:\n  - name: Opportunity\n    fields:\n"+
		"      - {name: Region__c, type: picklist, restricted: true, values: [EMEA, APAC]}\n"+
		"      - {name: Due__c, type: datetime}\n")
	o := newOrg(t, Options{Schema: schema})
	id, _ := o.load(`{"object":"Opportunity","operation":"insert"}`,
		"Name,StageName,CloseDate,Amount,Region__c,Due__c,Type\n"+
			"ok,New,2026-12-31,1200,EMEA,2026-12-31T10:00:00Z,Anything Goes\n"+
			"uk date,New,31/12/2026,1,APAC,,\n"+
			"thousands,New,2026-12-31,\"1,200\",,,\n"+
			"region,New,2026-12-31,1,emea,,\n"+
			"due,New,2026-12-31,1,,tomorrow,\n")
	f := failedRows(t, o, id, "Name")
	for name, want := range map[string]string{
		"uk date":   "INVALID_FIELD:Failed to deserialize field at col 3. Due to, '31/12/2026' is not a valid value for the type xsd:date:CloseDate --",
		"thousands": "INVALID_FIELD:Failed to deserialize field at col 4. Due to, '1,200' is not a valid value for the type xsd:double:Amount --",
		"region":    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:Region__c: bad value for restricted picklist field: emea:Region__c --",
		"due":       "INVALID_FIELD:Failed to deserialize field at col 6. Due to, 'tomorrow' is not a valid value for the type xsd:dateTime:Due__c --",
	} {
		if f[name] != want {
			t.Errorf("%s: %q, want %q", name, f[name], want)
		}
	}
	if _, ok := f["ok"]; ok || len(f) != 4 {
		t.Errorf("failed rows %v, want the four bad ones", f)
	}
	d := o.do("GET", "/sobjects/Opportunity/describe", "", "").body
	if !strings.Contains(d, `"name":"Region__c","label":"Region__c","type":"picklist"`) || !strings.Contains(d, `"picklistValues":[{"active":true,"defaultValue":false,"label":"EMEA","value":"EMEA"},{"active":true,"defaultValue":false,"label":"APAC","value":"APAC"}],"restrictedPicklist":true`) {
		t.Errorf("describe does not show the restricted picklist: %s", d)
	}
}

// Without maxRecords the server pages a large result as an org does: each
// page ends at the first row past 1 MiB of CSV, with the header row on
// every page; maxRecords still sets the page size.
func TestQueryPagedByDefault(t *testing.T) {
	o := newOrg(t, Options{})
	var b strings.Builder
	b.WriteString("Name,External_Id__c,Description\n")
	pad := strings.Repeat("x", 200)
	for i := 0; i < 12_000; i++ {
		fmt.Fprintf(&b, "Account %05d,P-%d,%s\n", i, i, pad)
	}
	o.load(`{"object":"Account","operation":"insert"}`, b.String())
	body, _ := json.Marshal(map[string]string{"operation": "query", "query": "SELECT Name, Description FROM Account ORDER BY Name"})
	id := o.do("POST", "/jobs/query", "application/json", string(body)).json(t)["id"].(string)
	o.wait("/jobs/query/" + id)
	var pages []int
	locator, rows := "", 0
	for {
		path := "/jobs/query/" + id + "/results"
		if locator != "" {
			path += "?locator=" + locator
		}
		page := o.do("GET", path, "", "")
		n, _ := strconv.Atoi(page.header.Get("Sforce-NumberOfRecords"))
		if !strings.HasPrefix(page.body, "\"Name\",\"Description\"\n") || strings.Count(page.body, "\n") != n+1 {
			t.Fatalf("page %d: %d records announced, body of %d lines", len(pages), n, strings.Count(page.body, "\n"))
		}
		if len(page.body)-len("\"Name\",\"Description\"\n") < 1<<20 && page.header.Get("Sforce-Locator") != "null" {
			t.Fatalf("page %d of %d bytes is not the last, yet below 1 MiB", len(pages), len(page.body))
		}
		pages = append(pages, n)
		rows += n
		if locator = page.header.Get("Sforce-Locator"); locator == "null" {
			break
		}
	}
	if len(pages) != 3 || rows != 12_000 {
		t.Fatalf("pages %v, want 3 pages of 12,000 rows in all", pages)
	}
	if n := o.do("GET", "/jobs/query/"+id+"/results?maxRecords=5000", "", "").header.Get("Sforce-NumberOfRecords"); n != "5000" {
		t.Fatalf("maxRecords=5000: a page of %s rows", n)
	}
}
