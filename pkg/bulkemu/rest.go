package bulkemu

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// directory holds the org's own records that clients read besides their
// data: the Organization and its one User. The Salesforce CLI looks both
// up when it logs in (the User's Username, the Organization's edition).
// They live in a schema and store of their own, so the org's schema
// (describe, Bulk API jobs, --org files) stays as configured; the REST
// query and record endpoints read both. The store is written once, in
// newDirectory, and only read afterwards.
type directory struct {
	schema *Schema
	store  *store
}

// orgName is the Organization's Name and the User's full name.
const orgName = "Bulkstream Emulator"

func newDirectory(username string, now time.Time) *directory {
	s, err := NewSchema([]*Object{
		{Name: "Organization", Label: "Organization", KeyPrefix: "00D", Fields: []*Field{
			{Name: "Name", Label: "Name", Type: TypeString, Length: 80, ReadOnly: true},
			{Name: "InstanceName", Label: "Instance Name", Type: TypeString, Length: 5, ReadOnly: true},
			{Name: "IsSandbox", Label: "Is Sandbox", Type: TypeBoolean, ReadOnly: true},
			{Name: "TrialExpirationDate", Label: "Trial Expiration Date", Type: TypeDateTime, ReadOnly: true},
			{Name: "NamespacePrefix", Label: "Namespace Prefix", Type: TypeString, Length: 15, ReadOnly: true},
			{Name: "OrganizationType", Label: "Edition", Type: TypePicklist, Length: 40, ReadOnly: true},
		}},
		{Name: "User", Label: "User", KeyPrefix: "005", Fields: []*Field{
			{Name: "Username", Label: "Username", Type: TypeString, Length: 80, ReadOnly: true},
			{Name: "FirstName", Label: "First Name", Type: TypeString, Length: 40, ReadOnly: true},
			{Name: "LastName", Label: "Last Name", Type: TypeString, Length: 80, ReadOnly: true},
			{Name: "Name", Label: "Full Name", Type: TypeString, Length: 121, ReadOnly: true},
			{Name: "Email", Label: "Email", Type: TypeEmail, Length: 128, ReadOnly: true},
			{Name: "IsActive", Label: "Active", Type: TypeBoolean, ReadOnly: true},
		}},
	})
	if err != nil {
		panic(err) // a constant schema; a failure is a programming error
	}
	d := &directory{schema: s, store: newStore(s)}
	ms := now.UnixMilli()
	d.add("Organization", ms, map[string]string{"Name": orgName, "InstanceName": "EMU1", "IsSandbox": "false", "OrganizationType": "Developer Edition"})
	d.add("User", ms, map[string]string{"Username": username, "FirstName": "Bulkstream", "LastName": "Emulator", "Name": orgName, "Email": username, "IsActive": "true"})
	return d
}

// add appends a record, whose id is then the object's first: orgID and
// userID.
func (d *directory) add(object string, ms int64, values map[string]string) {
	o := d.schema.Object(object)
	t := d.store.tables[o]
	var vals []fieldValue
	for name, v := range values {
		vals = setValue(vals, o.Field(name).index, &v)
	}
	t.setValues(t.add(row{created: ms, modified: ms}), vals)
}

// username is the login name of the org's one user.
func (d *directory) username() string {
	u := d.schema.Object("User")
	v, _ := d.store.tables[u].value(0, u.Field("Username"))
	return v
}

// lookup returns the store and object of name: an object of the org's
// schema, else the Organization or the User.
func (e *Emulator) lookup(name string) (*store, *Object) {
	if o := e.schema.Object(name); o != nil {
		return e.store, o
	}
	if o := e.directory.schema.Object(name); o != nil {
		return e.directory.store, o
	}
	return nil, nil
}

// restQuery serves GET /query?q= and /queryAll?q=, the REST API's query: the
// records in one page ("done": true), each with its attributes, values typed
// as JSON and parent fields nested under the relationship's name. It takes
// the SOQL that Bulk API 2.0 query takes (parseQuery), over the org's
// objects and the Organization and User.
func (e *Emulator) restQuery(q *request, all bool) error {
	soql := q.r.URL.Query().Get("q")
	if strings.TrimSpace(soql) == "" {
		return badRequest("MALFORMED_QUERY", "A query string has to be specified")
	}
	st, parsed, err := e.parseRESTQuery(soql)
	if err != nil {
		return err
	}
	st.mu.RLock()
	views := st.selectViews(parsed, all)
	records := make([]jsonRaw, len(views))
	for i, v := range views {
		records[i] = restRecord(v, parsed.Columns, q.version)
	}
	st.mu.RUnlock()
	var o orderedJSON
	o.add("totalSize", len(records))
	o.add("done", true)
	o.add("records", records)
	writeRawJSON(q.w, http.StatusOK, o.bytes())
	return nil
}

// parseRESTQuery parses soql against the org's schema, and against the
// directory's when its object is the Organization or the User.
func (e *Emulator) parseRESTQuery(soql string) (*store, *query, error) {
	parsed, err := parseQuery(e.schema, soql)
	if err == nil {
		return e.store, parsed, nil
	}
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "INVALID_TYPE" {
		dp, derr := parseQuery(e.directory.schema, soql)
		if derr == nil {
			return e.directory.store, dp, nil
		}
		if errors.As(derr, &ae) && ae.Code != "INVALID_TYPE" {
			return nil, nil, derr // the Organization or User, with a bad field
		}
	}
	return nil, nil, err
}

// restRecord renders one record of a REST query: attributes, then the
// columns in SELECT order, the fields of one parent gathered in one nested
// object (null when the record has no parent).
func restRecord(v recordView, cols []column, version string) jsonRaw {
	var o orderedJSON
	o.add("attributes", attributes(v, version))
	parents := map[*Field]*orderedJSON{}
	var order []*Field
	for _, c := range cols {
		if c.Path.Rel == nil {
			val, ok := v.Value(c.Path)
			o.add(c.Path.Field.Name, restValue(c.Path.Field, val, ok))
			continue
		}
		p, seen := parents[c.Path.Rel]
		if !seen {
			if pv, ok := v.parent(c.Path.Rel); ok {
				p = &orderedJSON{}
				p.add("attributes", attributes(pv, version))
			}
			parents[c.Path.Rel] = p
			order = append(order, c.Path.Rel)
		}
		if p != nil {
			val, ok := v.Value(c.Path)
			p.add(c.Path.Field.Name, restValue(c.Path.Field, val, ok))
		}
	}
	for _, rel := range order {
		if p := parents[rel]; p != nil {
			o.add(rel.RelationshipName, jsonRaw(p.bytes()))
		} else {
			o.add(rel.RelationshipName, nil)
		}
	}
	return o.bytes()
}

func attributes(v recordView, version string) jsonRaw {
	var a orderedJSON
	a.add("type", v.table.obj.Name)
	a.add("url", "/services/data/v"+version+"/sobjects/"+v.table.obj.Name+"/"+v.table.recordID(v.idx))
	return a.bytes()
}

// restValue types a canonical value as the REST API does in JSON: numbers
// and booleans unquoted, dateTimes as 2024-01-02T03:04:05.000+0000, null
// for a null field.
func restValue(f *Field, v string, ok bool) any {
	if !ok {
		return nil
	}
	switch f.Type {
	case TypeBoolean:
		return v == "true"
	case TypeInt, TypeDouble, TypeCurrency, TypePercent:
		return json.Number(v)
	case TypeDateTime:
		return strings.TrimSuffix(v, "Z") + "+0000"
	}
	return v
}

// record serves GET /sobjects/{Object}/{id}: every non-null field of a live
// record of the org or of the directory (the Salesforce CLI reads its
// user's Username so).
func (e *Emulator) record(q *request) error {
	st, o := e.lookup(q.seg[1])
	if o == nil {
		return errNotFound
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	t := st.tables[o]
	idx, ok, err := t.index(q.seg[2])
	if err != nil || !ok || t.row(idx).state != rowLive {
		return errNotFound
	}
	cols := make([]column, len(o.Fields))
	for i, f := range o.Fields {
		cols[i] = column{Header: f.Name, Path: fieldPath{Field: f}}
	}
	writeRawJSON(q.w, http.StatusOK, restRecord(st.view(t, idx), cols, q.version))
	return nil
}

// versionRoot serves GET /services/data/vXX.X: the resources of that
// version the emulator serves, and the identity URL.
func (e *Emulator) versionRoot(q *request) error {
	base := "/services/data/v" + q.version + "/"
	var o orderedJSON
	o.add("identity", instanceURL(q.r)+"/id/"+orgID+"/"+userID)
	for _, name := range []string{"limits", "query", "queryAll", "sobjects"} {
		o.add(name, base+name)
	}
	writeRawJSON(q.w, http.StatusOK, o.bytes())
	return nil
}

// writeBadOAuthToken answers a userinfo or identity request without a
// valid token: 403 and plain text, not the REST API's JSON error (the
// emulator's own choice; no public capture shows Salesforce's answer).
func writeBadOAuthToken(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.WriteHeader(http.StatusForbidden)
	w.Write([]byte("Bad_OAuth_Token"))
}

// userinfo serves GET or POST /services/oauth2/userinfo, OpenID Connect's
// user info of the token's user.
func (e *Emulator) userinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeError(w, errNotFound)
		return
	}
	if e.auth.check(r, e.now()) != nil {
		writeBadOAuthToken(w)
		return
	}
	instance := instanceURL(r)
	user := e.directory.username()
	var o orderedJSON
	o.add("sub", instance+"/id/"+orgID+"/"+userID)
	o.add("user_id", userID)
	o.add("organization_id", orgID)
	o.add("preferred_username", user)
	o.add("nickname", "bulkstream")
	o.add("name", orgName)
	o.add("email", user)
	o.add("email_verified", true)
	o.add("given_name", "Bulkstream")
	o.add("family_name", "Emulator")
	o.add("zoneinfo", "GMT")
	o.add("profile", instance+"/"+userID)
	o.add("urls", e.identityURLs(instance))
	o.add("active", true)
	o.add("user_type", "STANDARD")
	o.add("language", "en_US")
	o.add("locale", "en_US")
	o.add("utcOffset", 0)
	writeRawJSON(w, http.StatusOK, o.bytes())
}

// identity serves GET /id/{orgId}/{userId}, the identity URL that a token
// response names in "id".
func (e *Emulator) identity(w http.ResponseWriter, r *http.Request) {
	if e.auth.check(r, e.now()) != nil {
		writeBadOAuthToken(w)
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/id/"), "/"), "/")
	if len(parts) != 2 || !sameID(parts[0], orgID) || !sameID(parts[1], userID) {
		writeError(w, errNotFound)
		return
	}
	instance := instanceURL(r)
	user := e.directory.username()
	var o orderedJSON
	o.add("id", instance+"/id/"+orgID+"/"+userID)
	o.add("asserted_user", true)
	o.add("user_id", userID)
	o.add("organization_id", orgID)
	o.add("username", user)
	o.add("nick_name", "bulkstream")
	o.add("display_name", orgName)
	o.add("email", user)
	o.add("email_verified", true)
	o.add("first_name", "Bulkstream")
	o.add("last_name", "Emulator")
	o.add("timezone", "GMT")
	o.add("active", true)
	o.add("user_type", "STANDARD")
	o.add("language", "en_US")
	o.add("locale", "en_US")
	o.add("utcOffset", 0)
	o.add("urls", e.identityURLs(instance))
	writeRawJSON(w, http.StatusOK, o.bytes())
}

// identityURLs are the API endpoints an identity answer lists, with the
// literal {version} as Salesforce writes them when no version is asked for.
func (e *Emulator) identityURLs(instance string) jsonRaw {
	base := instance + "/services/data/v{version}/"
	var o orderedJSON
	o.add("rest", base)
	o.add("sobjects", base+"sobjects/")
	o.add("query", base+"query/")
	o.add("profile", instance+"/"+userID)
	return o.bytes()
}

// sameID compares a 15- or 18-character id with an 18-character one.
func sameID(id, full string) bool {
	return id == full || (len(id) == 15 && id == full[:15])
}
