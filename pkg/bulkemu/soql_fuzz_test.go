package bulkemu

import (
	"errors"
	"net/http"
	"testing"
)

// FuzzParseQuery checks that parseQuery never panics and fails only with a
// 400 *apiError, and that Match and Less never panic, even on values that
// are not canonical, and that Less is irreflexive and asymmetric.
//
//	go test -run '^$' -fuzz FuzzParseQuery -fuzztime 60s ./pkg/bulkemu/
func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"SELECT Id, Name FROM Account",
		"select id, lastname, account.external_id__c from contact limit 10",
		"SELECT a.Name, a.Parent.Name FROM Account a WHERE a.Name != null ORDER BY Parent.Name DESC NULLS LAST, Id",
		"SELECT Id FROM Account WHERE (Industry = 'Retail' OR Industry = null) AND Name LIKE 'a\\_%' LIMIT 5",
		"SELECT Id FROM Account WHERE NOT Name IN ('a', 'b\\'c', null) AND NumberOfEmployees >= -5",
		"SELECT Id FROM Account WHERE AnnualRevenue > 1500.25 AND IsDeleted = false AND Id > '001Ab0000000001'",
		"SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:30 OR CreatedDate < 2024-01-31T10:00:00.000+01:00",
		"SELECT Id FROM Opportunity WHERE CloseDate IN (TODAY, 2024-02-29, NEXT_N_DAYS:3) ORDER BY Amount",
		"SELECT Id FROM Contact WHERE Account.Name LIKE '%x%' AND Birthdate < YESTERDAY",
		"SELECT Id FORM Account",
		"SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'",
		"SELECT COUNT() FROM Account",
		"SELECT Id, (SELECT Id FROM Contacts) FROM Account",
		"SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)",
		"SELECT Industry FROM Account GROUP BY Industry HAVING COUNT(Id) > 1",
		"SELECT Id FROM Account LIMIT 10 OFFSET 5 FOR UPDATE",
		"SELECT TYPEOF What WHEN Account THEN Name END FROM Event",
		"SELECT FIELDS(ALL) FROM Account WITH SECURITY_ENFORCED",
		"SELECT Id FROM Account WHERE NumberOfEmployees = 'abc'",
		"SELECT Id FROM Account WHERE CreatedDate > 2024-13-01T25:00:00Z",
		"SELECT Id FROM Account WHERE Name = 'unterminated\\",
		"SELECT Account.Parent.Name FROM Contact WHERE Foo.Bar = 1",
		"SELECT Id FROM Account WHERE ((((Name = 'x'))))",
		"SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS:99999999999",
		"\n\tSELECT\u00a0Id FROM Account WHERE Name = 'é\\n' ORDER BY Name NULLS",
		"",
	} {
		f.Add(seed)
	}
	schema := DefaultSchema()
	records := []soqlRecord{{}, fuzzOddRecord(schema)}
	records = append(records, soqlAccounts...)
	f.Fuzz(func(t *testing.T, soql string) {
		q, err := parseQueryAt(schema, soql, soqlTestNow)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code == "" || ae.Message == "" || q != nil {
				t.Fatalf("parseQuery(%q) = %v, %v; want nil and a 400 *apiError", soql, q, err)
			}
			return
		}
		if q.Object == nil || len(q.Columns) == 0 || q.Limit < -1 {
			t.Fatalf("parseQuery(%q) = %+v", soql, q)
		}
		for _, a := range records {
			q.Match(a)
			for _, b := range records {
				if q.Less(a, b) && q.Less(b, a) {
					t.Fatalf("%q: Less(a, b) and Less(b, a) for %v and %v", soql, a, b)
				}
			}
			if q.Less(a, a) {
				t.Fatalf("%q: Less(a, a) for %v", soql, a)
			}
		}
	})
}

// fuzzOddRecord gives every field of every object, and of every parent, a
// value that is not canonical for most types.
func fuzzOddRecord(s *Schema) soqlRecord {
	odd := []string{"", "abc", "NaN", "-1e999", "\xff\xfe", "2024-01-01", "001", "true", "1.5"}
	r := soqlRecord{}
	i := 0
	for _, o := range s.Objects() {
		for _, f := range o.Fields {
			r[f.Name] = odd[i%len(odd)]
			i++
			if f.RelationshipName != "" {
				for _, pf := range s.Object(f.ReferenceTo).Fields {
					r[f.RelationshipName+"."+pf.Name] = odd[i%len(odd)]
					i++
				}
			}
		}
	}
	return r
}
