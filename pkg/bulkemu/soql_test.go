package bulkemu

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// soqlTestNow is the clock of every test query: relative date literals
// resolve against 2024-03-10 (UTC).
var soqlTestNow = time.Date(2024, 3, 10, 15, 30, 0, 0, time.UTC)

// soqlTestSchema is the schema of every test query, shared so that tests
// can compare *Field and *Object pointers.
var soqlTestSchema = DefaultSchema()

// soqlRecord is a record for the evaluator: field name (or
// Relationship.Field) → canonical value; absent means null.
type soqlRecord map[string]string

func (r soqlRecord) Value(p fieldPath) (string, bool) {
	key := p.Field.Name
	if p.Rel != nil {
		key = p.Rel.RelationshipName + "." + key
	}
	v, ok := r[key]
	return v, ok
}

// soqlAccounts are the records the evaluation tests filter and sort.
var soqlAccounts = []soqlRecord{
	{"Id": "001Ab0000000001AAA", "Name": "Acme", "Industry": "Tech", "NumberOfEmployees": "100", "AnnualRevenue": "1500.5",
		"CreatedDate": "2024-01-31T10:00:00.000Z", "IsDeleted": "false", "Parent.Name": "Holding"},
	{"Id": "001Ab0000000002AAA", "Name": "acme corp", "Industry": "Retail", "NumberOfEmployees": "5",
		"CreatedDate": "2024-02-01T00:00:00.000Z", "IsDeleted": "true", "Website": "O'Brien\\\n"},
	{"Id": "001Ab0000000003AAA", "Name": "Zeta_1%", "CreatedDate": "2023-12-31T23:59:59.999Z", "IsDeleted": "false"},
	{"Id": "001Ab0000000004AAA", "Name": "Beta", "Industry": "tech", "NumberOfEmployees": "-3", "AnnualRevenue": "0",
		"CreatedDate": "2024-03-09T08:00:00.000Z"},
}

func mustParseSOQL(t *testing.T, soql string) *query {
	t.Helper()
	q, err := parseQueryAt(soqlTestSchema, soql, soqlTestNow)
	if err != nil {
		t.Fatalf("parseQuery(%q): %v", soql, err)
	}
	return q
}

// soqlNames returns the Name of each record, which is unique among soqlAccounts.
func soqlNames(records []soqlRecord) []string {
	out := []string{}
	for _, r := range records {
		out = append(out, r["Name"])
	}
	return out
}

func TestParseQueryColumns(t *testing.T) {
	s := soqlTestSchema
	account, contact := s.Object("Account"), s.Object("Contact")
	tests := []struct {
		soql    string
		object  *Object
		headers []string
		paths   []fieldPath
		limit   int
		order   bool
	}{
		{soql: "SELECT Id, Name FROM Account", object: account, headers: []string{"Id", "Name"},
			paths: []fieldPath{{Field: account.Field("Id")}, {Field: account.Field("Name")}}, limit: -1},
		{soql: "select id, lastname, account.external_id__c from contact limit 10", object: contact,
			headers: []string{"Id", "LastName", "Account.External_Id__c"},
			paths: []fieldPath{{Field: contact.Field("Id")}, {Field: contact.Field("LastName")},
				{Rel: contact.Field("AccountId"), Field: account.Field("External_Id__c")}}, limit: 10},
		{soql: "SELECT Parent.Name, parent.id FROM account ORDER BY Name", object: account,
			headers: []string{"Parent.Name", "Parent.Id"},
			paths:   []fieldPath{{Rel: account.Field("ParentId"), Field: account.Field("Name")}, {Rel: account.Field("ParentId"), Field: account.Field("Id")}},
			limit:   -1, order: true},
		{soql: "SELECT a.Name, a.Parent.Name FROM Account a WHERE a.Name != null", object: account,
			headers: []string{"Name", "Parent.Name"},
			paths:   []fieldPath{{Field: account.Field("Name")}, {Rel: account.Field("ParentId"), Field: account.Field("Name")}}, limit: -1},
		{soql: "\n  SELECT\tId\r\n FROM Lead\n WHERE Status IN ('Open')\n ORDER BY CreatedDate DESC NULLS LAST, Id\n LIMIT 0\n",
			object: s.Object("Lead"), headers: []string{"Id"}, paths: []fieldPath{{Field: s.Object("Lead").Field("Id")}}, limit: 0, order: true},
	}
	for _, tt := range tests {
		t.Run(tt.soql, func(t *testing.T) {
			q := mustParseSOQL(t, tt.soql)
			if q.Object != tt.object {
				t.Errorf("Object = %v, want %v", q.Object.Name, tt.object.Name)
			}
			var headers []string
			var paths []fieldPath
			for _, c := range q.Columns {
				headers = append(headers, c.Header)
				paths = append(paths, c.Path)
			}
			if !slices.Equal(headers, tt.headers) {
				t.Errorf("headers = %q, want %q", headers, tt.headers)
			}
			if !slices.Equal(paths, tt.paths) {
				t.Errorf("paths = %v, want %v", paths, tt.paths)
			}
			if q.Limit != tt.limit {
				t.Errorf("Limit = %d, want %d", q.Limit, tt.limit)
			}
			if q.HasOrder() != tt.order {
				t.Errorf("HasOrder() = %v, want %v", q.HasOrder(), tt.order)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	const malformed, invalidField = "MALFORMED_QUERY", "INVALID_FIELD"
	const badOperator, apiErr = "INVALID_QUERY_FILTER_OPERATOR", "API_ERROR"
	tests := []struct {
		soql string
		code string
		want string // a part of the message
	}{
		// Syntax.
		{"SELECT Id FORM Account", malformed, "\nSELECT Id FORM Account\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FORM'"},
		{"SELECT Id\nFROM Account\nWHERE Name = 'a' AND Name = 'b' OR Name = 'c'", malformed, "ERROR at Row:3:Column:33\nunexpected token: 'OR'"},
		{"SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b' AND Name = 'c'", malformed, "unexpected token: 'AND'"},
		{"", malformed, "unexpected token: '<EOF>'"},
		{"SELECT * FROM Account", malformed, "unexpected token: '*'"},
		{"SELECT FROM Account", malformed, "unexpected token: 'Account'"},
		{"SELECT Id, FROM Account", malformed, "unexpected token: 'Account'"},
		{"SELECT Id FROM Account;", malformed, "unexpected token: ';'"},
		{"SELECT Id FROM Account, Contact", malformed, "unexpected token: ','"},
		{"SELECT Id FROM Account WHERE", malformed, "unexpected token: '<EOF>'"},
		{"SELECT Id FROM Account WHERE (Name = 'a'", malformed, "unexpected token: '<EOF>'"},
		{"SELECT Id FROM Account WHERE Name IN ()", malformed, "unexpected token: ')'"},
		{"SELECT Id FROM Account WHERE Name NOT LIKE 'a%'", malformed, "unexpected token: 'NOT'"},
		{"SELECT Id FROM Account WHERE Name = :name", malformed, "unexpected token: ':'"},
		{"SELECT Id FROM Account WHERE Name = \"x\"", malformed, "unexpected token: '\"'"},
		{"SELECT Id FROM Account WHERE Name = Acme", malformed, "unexpected token: 'Acme'"},
		{"SELECT Id FROM Account WHERE Name = 'a\\qb'", malformed, "Illegal character sequence '\\q' in string literal"},
		{"SELECT Id FROM Account WHERE Name = 'abc", malformed, "mismatched character '<EOF>'"},
		{"SELECT Id FROM Account WHERE Name = 'abc\\", malformed, "mismatched character '<EOF>'"},
		{"SELECT Id FROM Account WHERE CreatedDate > 2024-13-01T00:00:00Z", malformed, "Invalid datetime: 2024-13-01T00:00:00Z"},
		{"SELECT Id FROM Account WHERE CreatedDate > 2024-01-01T00:00:00", malformed, "Invalid datetime"},
		{"SELECT Id FROM Opportunity WHERE CloseDate > 2024-02-30", malformed, "Invalid date: 2024-02-30"},
		{"SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS", malformed, "unexpected token: 'LAST_N_DAYS'"},
		{"SELECT Id FROM Account WHERE CreatedDate > TODAY:3", malformed, "unexpected token: 'TODAY'"},
		{"SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS:-3", malformed, "unexpected token: '-3'"},
		{"SELECT Id FROM Account ORDER BY Name NULLS", malformed, "unexpected token: '<EOF>'"},
		{"SELECT Id FROM Account ORDER Name", malformed, "unexpected token: 'Name'"},
		{"SELECT Id, Name, id FROM Account", malformed, "duplicate field selected: Id"},
		{"SELECT Id FROM Account LIMIT -1", malformed, "unexpected token: '-1'"},
		{"SELECT Id FROM Account LIMIT 1.5", malformed, "unexpected token: '1.5'"},
		{"SELECT Id FROM Account LIMIT ten", malformed, "unexpected token: 'ten'"},
		{"SELECT Id FROM Account LIMIT 99999999999", malformed, "unexpected token: '99999999999'"},
		// Names.
		{"SELECT Id FROM Foo", "INVALID_TYPE", "ERROR at Row:1:Column:16\nsObject type 'Foo' is not supported. If you are attempting to use a custom object"},
		{"SELECT Foo FROM Account", invalidField, "No such column 'Foo' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name."},
		{"SELECT Id FROM Account WHERE Foo = 'x'", invalidField, "No such column 'Foo' on entity 'Account'"},
		{"SELECT Id FROM Account ORDER BY Foo", invalidField, "No such column 'Foo' on entity 'Account'"},
		{"SELECT Account.Foo FROM Contact", invalidField, "No such column 'Foo' on entity 'Account'"},
		{"SELECT Foo.Name FROM Contact", invalidField, "Didn't understand relationship 'Foo' in field path. If you are attempting to use a custom relationship"},
		{"SELECT Account.Foo.Name FROM Contact", invalidField, "Didn't understand relationship 'Foo' in field path"},
		{"SELECT Id FROM Account a WHERE b.Name = 'x'", invalidField, "Didn't understand relationship 'b'"},
		{"SELECT Account FROM Contact", invalidField, "No such column 'Account' on entity 'Contact'"},
		// Values of the wrong type, and operators the type has no use for.
		{"SELECT Id FROM Account WHERE NumberOfEmployees = 'abc'", invalidField, "value of filter criterion for field 'NumberOfEmployees' must be of type integer and should not be enclosed in quotes"},
		{"SELECT Id FROM Account WHERE NumberOfEmployees = 1.5", invalidField, "must be of type integer"},
		{"SELECT Id FROM Account WHERE AnnualRevenue = '5'", invalidField, "field 'AnnualRevenue' must be of type currency and should not be enclosed in quotes"},
		{"SELECT Id FROM Account WHERE Name = 5", invalidField, "field 'Name' must be of type string and should be enclosed in quotes"},
		{"SELECT Id FROM Account WHERE Name IN ('a', 5)", invalidField, "must be of type string"},
		{"SELECT Id FROM Account WHERE Name = TODAY", invalidField, "must be of type string"},
		{"SELECT Id FROM Account WHERE Name = true", invalidField, "must be of type string"},
		{"SELECT Id FROM Account WHERE Name LIKE null", invalidField, "must be of type string"},
		{"SELECT Id FROM Account WHERE CreatedDate = 2024-01-01", invalidField, "field 'CreatedDate' must be of type dateTime and should not be enclosed in quotes"},
		{"SELECT Id FROM Account WHERE CreatedDate = '2024-01-01T00:00:00Z'", invalidField, "must be of type dateTime"},
		{"SELECT Id FROM Opportunity WHERE CloseDate = 2024-01-01T00:00:00Z", invalidField, "field 'CloseDate' must be of type date"},
		{"SELECT Id FROM Account WHERE IsDeleted = 'true'", invalidField, "field 'IsDeleted' must be of type boolean and should not be enclosed in quotes"},
		{"SELECT Id FROM Account WHERE IsDeleted = 1", invalidField, "must be of type boolean"},
		{"SELECT Id FROM Contact WHERE AccountId = 5", invalidField, "field 'AccountId' must be of type id and should be enclosed in quotes"},
		{"SELECT Id FROM Account WHERE Id = 'abc'", badOperator, "invalid ID field: abc"},
		{"SELECT Id FROM Account WHERE IsDeleted > false", badOperator, "invalid operator on boolean field"},
		{"SELECT Id FROM Account WHERE NumberOfEmployees LIKE '1%'", badOperator, "invalid operator on integer field"},
		{"SELECT Id FROM Account WHERE Id LIKE '001%'", badOperator, "invalid operator on id field"},
		{"SELECT Id FROM Account WHERE Description = 'x'", invalidField, "field 'Description' can not be filtered in query call"},
		{"SELECT Id FROM Contact WHERE Account.Description LIKE 'x%'", invalidField, "field 'Description' can not be filtered"},
		{"SELECT Id FROM Account ORDER BY Description", invalidField, "field 'Description' can not be sorted in query call"},
		// What Bulk API 2.0 query refuses.
		{"SELECT COUNT() FROM Account", apiErr, "Aggregate functions such as COUNT() are not supported in Bulk API 2.0 query"},
		{"SELECT Industry, count(Id) FROM Account", apiErr, "Aggregate functions such as COUNT() are not supported"},
		{"SELECT MAX(AnnualRevenue) FROM Account", apiErr, "Aggregate functions such as MAX()"},
		{"SELECT Id FROM Account ORDER BY COUNT(Id)", apiErr, "Aggregate functions such as COUNT()"},
		{"SELECT Industry FROM Account GROUP BY Industry", apiErr, "GROUP BY is not supported in Bulk API 2.0 query"},
		{"SELECT Id FROM Account WHERE Name = 'x' GROUP BY Industry", apiErr, "GROUP BY is not supported"},
		{"SELECT Id FROM Account HAVING Name = 'x'", apiErr, "HAVING is not supported"},
		{"SELECT Id FROM Account LIMIT 10 OFFSET 5", apiErr, "OFFSET is not supported in Bulk API 2.0 query"},
		{"SELECT Id FROM Account ORDER BY Name OFFSET 5", apiErr, "OFFSET is not supported"},
		{"SELECT TYPEOF What WHEN Account THEN Name END FROM Event", apiErr, "TYPEOF is not supported in Bulk API 2.0 query"},
		{"SELECT Id, (SELECT Id FROM Contacts) FROM Account", apiErr, "Aggregate Relationships not supported in Bulk V2 Query with CSV content type."},
		{"SELECT FIELDS(ALL) FROM Account", apiErr, "FIELDS() is not supported in Bulk API 2.0 query"},
		{"SELECT Id FROM Account FOR UPDATE", apiErr, "FOR UPDATE, FOR VIEW and FOR REFERENCE are not supported"},
		{"SELECT Id FROM Account LIMIT 1 FOR VIEW", apiErr, "FOR UPDATE, FOR VIEW and FOR REFERENCE are not supported"},
		{"SELECT Id FROM Account UPDATE TRACKING", apiErr, "UPDATE TRACKING and UPDATE VIEWSTAT are not supported"},
		{"SELECT Id FROM Account ALL ROWS", apiErr, "use the queryAll operation"},
		// What the emulator does not implement.
		{"SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", apiErr, "Semi-join and anti-join subqueries (IN (SELECT ...)) are not supported by the Bulkstream emulator"},
		{"SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)", apiErr, "Semi-join"},
		{"SELECT Id FROM Account WITH SECURITY_ENFORCED", apiErr, "WITH clauses are not supported by the Bulkstream emulator"},
		{"SELECT Id FROM Account USING SCOPE Mine", apiErr, "USING SCOPE is not supported"},
		{"SELECT toLabel(Industry) FROM Account", apiErr, "The function toLabel() is not supported by the Bulkstream emulator"},
		{"SELECT Id FROM Account WHERE DAY_ONLY(CreatedDate) = TODAY", apiErr, "The function DAY_ONLY() is not supported"},
		{"SELECT Id FROM Account WHERE CreatedDate > THIS_MONTH", apiErr, "The date literal THIS_MONTH is not supported by the Bulkstream emulator"},
		{"SELECT Id FROM Account WHERE CreatedDate > last_n_weeks:2", apiErr, "The date literal LAST_N_WEEKS is not supported"},
		{"SELECT Account.Parent.Name FROM Contact", apiErr, "Relationship paths of more than one level (Account.Parent.Name) are not supported by the Bulkstream emulator"},
	}
	s := DefaultSchema()
	for _, tt := range tests {
		name := tt.soql
		if len(name) > 100 {
			name = name[:100]
		}
		t.Run(name, func(t *testing.T) {
			q, err := parseQueryAt(s, tt.soql, soqlTestNow)
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("parseQuery = %v, %v; want an *apiError", q, err)
			}
			if ae.Status != http.StatusBadRequest || ae.Code != tt.code || !strings.Contains(ae.Message, tt.want) {
				t.Errorf("error = %d %s %q\nwant   400 %s containing %q", ae.Status, ae.Code, ae.Message, tt.code, tt.want)
			}
			if positioned := strings.Contains(ae.Message, "ERROR at Row:"); positioned == (tt.code == apiErr) {
				t.Errorf("message %q: position prefix present = %v, want it on all but API_ERROR", ae.Message, positioned)
			}
		})
	}
}

func TestQueryMatch(t *testing.T) {
	tests := []struct {
		where string
		want  []string // names of the matching soqlAccounts
	}{
		{"", []string{"Acme", "acme corp", "Zeta_1%", "Beta"}},
		// Text: case-insensitive, null is a value for != and NOT IN.
		{"Name = 'ACME'", []string{"Acme"}},
		{"Name <> 'acme'", []string{"acme corp", "Zeta_1%", "Beta"}},
		{"Industry != 'Tech'", []string{"acme corp", "Zeta_1%"}},
		{"Industry = null", []string{"Zeta_1%"}},
		{"Industry = ''", []string{"Zeta_1%"}},
		{"Industry != null", []string{"Acme", "acme corp", "Beta"}},
		{"Industry IN ('tech', 'RETAIL')", []string{"Acme", "acme corp", "Beta"}},
		{"Industry NOT IN ('Tech')", []string{"acme corp", "Zeta_1%"}},
		{"Industry IN ('Retail', null)", []string{"acme corp", "Zeta_1%"}},
		{"Industry NOT IN ('Retail', null)", []string{"Acme", "Beta"}},
		{"Industry > 'S'", []string{"Acme", "Beta"}},
		{"Name < 'b'", []string{"Acme", "acme corp"}},
		{"Name >= 'beta'", []string{"Zeta_1%", "Beta"}},
		{"Website = 'o\\'brien\\\\\\n'", []string{"acme corp"}},
		// LIKE: case-insensitive, whole value, escaped wildcards.
		{"Name LIKE 'acme%'", []string{"Acme", "acme corp"}},
		{"Name LIKE '_eta%'", []string{"Zeta_1%", "Beta"}},
		{"Name LIKE '%C%O%'", []string{"acme corp"}},
		{"Name LIKE 'Zeta\\_1\\%'", []string{"Zeta_1%"}},
		{"Name LIKE 'Zeta\\_1'", nil},
		{"Name LIKE 'acm'", nil},
		{"Industry LIKE '%'", []string{"Acme", "acme corp", "Beta"}},
		{"NOT Name LIKE 'acme%'", []string{"Zeta_1%", "Beta"}},
		// Numbers compare numerically; null matches no ordering comparison.
		{"NumberOfEmployees > 5", []string{"Acme"}},
		{"NumberOfEmployees >= 5", []string{"Acme", "acme corp"}},
		{"NumberOfEmployees < 0", []string{"Beta"}},
		{"NumberOfEmployees <= 100", []string{"Acme", "acme corp", "Beta"}},
		{"NumberOfEmployees > -4", []string{"Acme", "acme corp", "Beta"}},
		{"NumberOfEmployees != 5", []string{"Acme", "Zeta_1%", "Beta"}},
		{"AnnualRevenue = 1500.50", []string{"Acme"}},
		{"AnnualRevenue < 1", []string{"Beta"}},
		// Datetimes: chronological, offsets, relative literals (today is 2024-03-10).
		{"CreatedDate > 2024-01-31T10:00:00Z", []string{"acme corp", "Beta"}},
		{"CreatedDate = 2024-01-31T11:00:00+01:00", []string{"Acme"}},
		{"CreatedDate = 2024-01-31T10:00:00.000Z", []string{"Acme"}},
		{"CreatedDate < 2024-01-01T00:00:00.000+0000", []string{"Zeta_1%"}},
		{"CreatedDate = YESTERDAY", []string{"Beta"}},
		{"CreatedDate = TODAY", nil},
		{"CreatedDate < TODAY", []string{"Acme", "acme corp", "Zeta_1%", "Beta"}},
		{"CreatedDate = LAST_N_DAYS:38", []string{"acme corp", "Beta"}},
		{"CreatedDate = LAST_N_DAYS:39", []string{"Acme", "acme corp", "Beta"}},
		{"CreatedDate < LAST_N_DAYS:39", []string{"Zeta_1%"}},
		{"CreatedDate >= N_DAYS_AGO:38", []string{"acme corp", "Beta"}},
		{"CreatedDate <= N_DAYS_AGO:38", []string{"Acme", "acme corp", "Zeta_1%"}},
		{"CreatedDate IN (YESTERDAY, 2024-01-31T10:00:00Z)", []string{"Acme", "Beta"}},
		{"CreatedDate = LAST_90_DAYS", []string{"Acme", "acme corp", "Zeta_1%", "Beta"}},
		{"CreatedDate = LAST_N_DAYS:69", []string{"Acme", "acme corp", "Beta"}},
		{"CreatedDate = LAST_N_DAYS:70", []string{"Acme", "acme corp", "Zeta_1%", "Beta"}},
		{"CreatedDate = NEXT_N_DAYS:5", nil},
		// Booleans: a null checkbox is false.
		{"IsDeleted = false", []string{"Acme", "Zeta_1%", "Beta"}},
		{"IsDeleted = null", []string{"Acme", "Zeta_1%", "Beta"}},
		{"IsDeleted != null", []string{"acme corp"}},
		{"IsDeleted = TRUE", []string{"acme corp"}},
		// Ids: the case-sensitive 15-character prefix decides.
		{"Id = '001Ab0000000001'", []string{"Acme"}},
		{"Id = '001Ab0000000001aaa'", []string{"Acme"}},
		{"Id = '001ab0000000001'", nil},
		{"Id IN ('001Ab0000000002', '001Ab0000000004AAA')", []string{"acme corp", "Beta"}},
		{"Id > '001Ab0000000002'", []string{"Zeta_1%", "Beta"}},
		{"Id < '001Ab0000000002AAA'", []string{"Acme"}},
		// Parent fields.
		{"Parent.Name = 'holding'", []string{"Acme"}},
		{"Parent.Name = null", []string{"acme corp", "Zeta_1%", "Beta"}},
		// NOT binds tighter than AND; parentheses group.
		{"NOT Industry = 'Tech' AND NumberOfEmployees > 0", []string{"acme corp"}},
		{"NOT (Industry = 'Tech' OR Industry = 'Retail')", []string{"Zeta_1%"}},
		{"(Industry = 'Retail' OR Industry = null) AND Name LIKE 'a%'", []string{"acme corp"}},
		{"Name = 'Beta' OR (Industry = 'Tech' AND NumberOfEmployees > 50)", []string{"Acme", "Beta"}},
		{"Name != 'Beta' AND Name != 'Acme' AND (((NumberOfEmployees = 5)))", []string{"acme corp"}},
		{"NOT NOT Name = 'Acme'", []string{"Acme"}},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			soql := "SELECT Id FROM Account"
			if tt.where != "" {
				soql += " WHERE " + tt.where
			}
			q := mustParseSOQL(t, soql)
			var got []soqlRecord
			for _, r := range soqlAccounts {
				if q.Match(r) {
					got = append(got, r)
				}
			}
			if !slices.Equal(soqlNames(got), append([]string{}, tt.want...)) {
				t.Errorf("matches %q, want %q", soqlNames(got), tt.want)
			}
		})
	}
}

func TestQueryMatchDateField(t *testing.T) {
	records := []soqlRecord{
		{"Name": "past", "CloseDate": "2024-03-01"},
		{"Name": "yesterday", "CloseDate": "2024-03-09"},
		{"Name": "today", "CloseDate": "2024-03-10"},
		{"Name": "soon", "CloseDate": "2024-03-13"},
		{"Name": "open"},
	}
	tests := []struct {
		where string
		want  []string
	}{
		{"CloseDate = 2024-03-09", []string{"yesterday"}},
		{"CloseDate > 2024-03-09", []string{"today", "soon"}},
		{"CloseDate = TODAY", []string{"today"}},
		{"CloseDate >= YESTERDAY", []string{"yesterday", "today", "soon"}},
		{"CloseDate < YESTERDAY", []string{"past"}},
		{"CloseDate = TOMORROW", nil},
		{"CloseDate = NEXT_N_DAYS:3", []string{"soon"}},
		{"CloseDate > NEXT_N_DAYS:2", []string{"soon"}},
		{"CloseDate <= NEXT_N_DAYS:2", []string{"past", "yesterday", "today"}},
		{"CloseDate = LAST_N_DAYS:1", []string{"yesterday", "today"}},
		{"CloseDate = LAST_N_DAYS:100000000", []string{"past", "yesterday", "today"}},
		{"CloseDate = NEXT_90_DAYS", []string{"soon"}},
		{"CloseDate != null", []string{"past", "yesterday", "today", "soon"}},
		{"CloseDate != TODAY", []string{"past", "yesterday", "soon", "open"}},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			q := mustParseSOQL(t, "SELECT Id FROM Opportunity WHERE "+tt.where)
			var got []soqlRecord
			for _, r := range records {
				if q.Match(r) {
					got = append(got, r)
				}
			}
			if !slices.Equal(soqlNames(got), append([]string{}, tt.want...)) {
				t.Errorf("matches %q, want %q", soqlNames(got), tt.want)
			}
		})
	}
}

func TestQueryLess(t *testing.T) {
	tests := []struct {
		orderBy string
		want    []string
	}{
		{"NumberOfEmployees", []string{"Zeta_1%", "Beta", "acme corp", "Acme"}},
		{"NumberOfEmployees ASC NULLS LAST", []string{"Beta", "acme corp", "Acme", "Zeta_1%"}},
		{"NumberOfEmployees DESC", []string{"Zeta_1%", "Acme", "acme corp", "Beta"}},
		{"NumberOfEmployees DESC NULLS LAST", []string{"Acme", "acme corp", "Beta", "Zeta_1%"}},
		{"Name", []string{"Acme", "acme corp", "Beta", "Zeta_1%"}},
		{"Name desc", []string{"Zeta_1%", "Beta", "acme corp", "Acme"}},
		{"Industry, Name DESC", []string{"Zeta_1%", "acme corp", "Beta", "Acme"}},
		{"Industry NULLS LAST, Name", []string{"acme corp", "Acme", "Beta", "Zeta_1%"}},
		{"CreatedDate DESC", []string{"Beta", "acme corp", "Acme", "Zeta_1%"}},
		{"IsDeleted DESC, Id DESC", []string{"acme corp", "Beta", "Zeta_1%", "Acme"}},
		{"Parent.Name NULLS LAST, AnnualRevenue", []string{"Acme", "acme corp", "Zeta_1%", "Beta"}},
	}
	for _, tt := range tests {
		t.Run(tt.orderBy, func(t *testing.T) {
			q := mustParseSOQL(t, "SELECT Id FROM Account ORDER BY "+tt.orderBy)
			got := slices.Clone(soqlAccounts)
			sort.SliceStable(got, func(i, j int) bool { return q.Less(got[i], got[j]) })
			if !slices.Equal(soqlNames(got), tt.want) {
				t.Errorf("order %q, want %q", soqlNames(got), tt.want)
			}
		})
	}
}

func TestQueryWithoutOrderKeepsOrder(t *testing.T) {
	q := mustParseSOQL(t, "SELECT Id FROM Account WHERE Name != null LIMIT 3")
	if q.HasOrder() {
		t.Error("HasOrder() = true without ORDER BY")
	}
	for _, a := range soqlAccounts {
		for _, b := range soqlAccounts {
			if q.Less(a, b) {
				t.Fatalf("Less(%s, %s) = true without ORDER BY", a["Name"], b["Name"])
			}
		}
	}
}

func TestParseQueryLengthLimit(t *testing.T) {
	s := DefaultSchema()
	prefix := "SELECT Id FROM Account WHERE Name = '"
	// é is one character in two bytes: the limit counts characters.
	fits := prefix + strings.Repeat("é", soqlMaxLength-len(prefix)-1) + "'"
	if _, err := parseQueryAt(s, fits, soqlTestNow); err != nil {
		t.Fatalf("query of %d characters: %v", soqlMaxLength, err)
	}
	_, err := parseQueryAt(s, fits+" ", soqlTestNow)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Code != "MALFORMED_QUERY" || !strings.Contains(ae.Message, "cannot be longer than 100000 characters") {
		t.Errorf("query of %d characters: error %v, want MALFORMED_QUERY about the length", soqlMaxLength+1, err)
	}
}
