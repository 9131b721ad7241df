package bulk_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

func TestDescribe(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)
	d, err := c.Describe(ctx, "contact") // any case, as Salesforce
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Contact" || !d.Createable || !d.Updateable || !d.Deletable {
		t.Fatalf("object %+v", d)
	}
	id, last, ext, acct := d.Field("Id"), d.Field("lastname"), d.Field("External_Id__c"), d.Field("AccountId")
	if id == nil || last == nil || ext == nil || acct == nil || d.Field("Nope__c") != nil {
		t.Fatalf("fields %v %v %v %v", id, last, ext, acct)
	}
	if id.Type != "id" || id.Createable || id.Updateable || !id.IDLookup || id.ExternalID {
		t.Errorf("Id %+v", id)
	}
	if last.Name != "LastName" || !last.Createable || !last.Updateable || !last.Required() || last.ExternalID {
		t.Errorf("LastName %+v", last)
	}
	if !ext.ExternalID || !ext.IDLookup || ext.Required() {
		t.Errorf("External_Id__c %+v", ext)
	}
	if acct.Type != "reference" || !slices.Equal(acct.ReferenceTo, []string{"Account"}) || acct.RelationshipName != "Account" {
		t.Errorf("AccountId %+v", acct)
	}
	if r := d.Relationship("account"); r != acct {
		t.Errorf("Relationship(account) = %+v", r)
	}
	if d.Relationship("AccountId") != nil {
		t.Error("a field name taken for a relationship name")
	}

	_, err = c.Describe(ctx, "Acount")
	wantCode(t, err, http.StatusNotFound, bulk.CodeNotFound)
	if !strings.Contains(err.Error(), "describe Acount") {
		t.Errorf("error %v does not name the object", err)
	}
}

// The request observer sees every try with its endpoint and status: the
// refused one before a refresh, retries, and a request that got no answer.
func TestRequestObserver(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	var mu sync.Mutex
	var seen []string
	c := o.client(t, bulk.WithRequestObserver(func(endpoint string, status int) {
		mu.Lock()
		seen = append(seen, endpoint+" "+http.StatusText(status))
		mu.Unlock()
	}))
	observed := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := seen
		seen = nil
		return out
	}
	ctx := testContext(t)
	job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}, strings.NewReader(accounts("obs", 3)))
	readResults(t, c.SuccessfulResults, job)
	if _, err := c.Describe(ctx, "Account"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Limits(ctx); err != nil {
		t.Fatal(err)
	}
	got := observed()
	// WaitIngestJob looks at the job until it is done: one or more gets.
	got = slices.CompactFunc(got, func(a, b string) bool { return a == b && a == "ingest.get OK" })
	want := []string{"ingest.create OK", "ingest.upload Created", "ingest.close OK", "ingest.get OK", "ingest.results OK", "describe OK", "limits OK"}
	if !slices.Equal(got, want) {
		t.Errorf("observed\n%q\nwant\n%q", got, want)
	}

	o.emu.SetFaults(bulkemu.Faults{Seed: 1, ExpireSessionRate: 1})
	c.Limits(ctx)
	if got := observed(); len(got) != fastRetry.MaxAttempts+1 || slices.ContainsFunc(got, func(s string) bool { return s != "limits Unauthorized" }) {
		t.Errorf("expired sessions: observed %q, want the refused try, the one after a free refresh and the retry policy's", got)
	}
	o.emu.SetFaults(bulkemu.Faults{})

	o.wire.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		panic(http.ErrAbortHandler) // the connection drops without an answer
	})
	if _, err := c.Describe(ctx, "Account"); err == nil {
		t.Fatal("describe through a dropped connection succeeded")
	}
	got = observed()
	if len(got) != fastRetry.MaxAttempts || got[0] != "describe " {
		t.Errorf("dropped connections: observed %q, want %d tries with status 0", got, fastRetry.MaxAttempts)
	}
}
