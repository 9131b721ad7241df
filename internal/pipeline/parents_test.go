package pipeline

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// parentsSchema is an org with Accounts, Contacts that name their Account
// by the standard lookup AccountId (relationship Account), and a custom
// object Invoice__c whose custom lookup Customer__c (relationship
// Customer__r) points to Account: only describe says that Customer__r is
// an Account.
func parentsSchema(t *testing.T) *bulkemu.Schema {
	ext := func() *bulkemu.Field {
		return &bulkemu.Field{Name: "External_Id__c", Type: bulkemu.TypeString, Length: 255, ExternalID: true, Unique: true}
	}
	s, err := bulkemu.NewSchema([]*bulkemu.Object{
		{Name: "Account", KeyPrefix: "001", Fields: []*bulkemu.Field{
			{Name: "Name", Type: bulkemu.TypeString, Length: 255, Required: true}, ext(),
		}},
		{Name: "Contact", KeyPrefix: "003", Fields: []*bulkemu.Field{
			{Name: "LastName", Type: bulkemu.TypeString, Length: 80, Required: true}, ext(),
			{Name: "AccountId", Type: bulkemu.TypeReference, ReferenceTo: "Account", RelationshipName: "Account"},
		}},
		{Name: "Invoice__c", KeyPrefix: "a01", Fields: []*bulkemu.Field{
			{Name: "Name", Type: bulkemu.TypeString, Length: 80}, ext(),
			{Name: "Customer__c", Type: bulkemu.TypeReference, ReferenceTo: "Account", RelationshipName: "Customer__r"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// snapshotRead is a Debezium snapshot event (op "r") of row, as the
// JsonConverter writes it without schemas.
func snapshotRead(t *testing.T, table string, row map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"before": nil, "after": row, "op": "r", "ts_ms": 1_700_000_000_000,
		"source": map[string]any{"connector": "postgresql", "name": "db", "db": "crm", "schema": "public", "table": table, "snapshot": "true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Parents and children on three topics, consumed in an adversarial order:
// the final org equals the source, no child fails while its parent is on
// its way, and a child whose parent really fails gets its failure once
// ParentWait is over.
//
//   - Round 1, children first: Contacts and Invoices of 40 Accounts are
//     consumed (and fail for want of their parents) before the Accounts are
//     produced, 1.5 s later. Within ParentWait they are retried until the
//     parents are there. One Account is refused by Salesforce (no Name): its
//     children fail with the original INVALID_FIELD after ParentWait.
//   - Round 2, parents in a job: 1,000 Accounts are produced first and their
//     job is slow (the emulator processes 1,000 rows/s); children of the last
//     50 produced meanwhile must wait for the parents' results instead of running beside them, so
//     no child row is retried for a missing parent. The Invoices name their
//     parent by a custom relationship (Customer__r), which only describe
//     maps to Account.
func TestParentsAcrossTopics(t *testing.T) {
	const (
		accounts = "db.public.accounts"
		contacts = "db.public.contacts"
		invoices = "db.public.invoices"
	)
	w := newWorld(t, 2, bulkemu.Options{Schema: parentsSchema(t)}, accounts, contacts, invoices)
	rr := w.readResults()
	mapped := func(topic, object string, rename map[string]string) Route {
		m, err := event.NewMapping(event.MappingRules{Rename: rename})
		if err != nil {
			t.Fatal(err)
		}
		d, err := event.NewDebeziumDecoder(event.DebeziumOptions{
			Defaults: event.Defaults{Object: object, Operation: event.Upsert, ExternalIDField: "External_Id__c", Mapping: m},
			KeyField: "code",
		})
		if err != nil {
			t.Fatal(err)
		}
		return Route{Topics: []string{topic}, Decoder: d}
	}
	routes := []Route{
		mapped(accounts, "Account", map[string]string{"name": "Name"}),
		mapped(contacts, "Contact", map[string]string{"last_name": "LastName", "account_code": "Account.External_Id__c"}),
		mapped(invoices, "Invoice__c", map[string]string{"title": "Name", "account_code": "Customer__r.External_Id__c"}),
	}
	opts := w.options("parents", routes...)
	opts.ParentWait = 6 * time.Second
	opts.RetryBase, opts.RetryMax = 200*time.Millisecond, time.Second
	run := w.start(opts)
	defer run.shutdown(t)

	account := func(code string, name any) *kgo.Record {
		return &kgo.Record{Topic: accounts, Key: []byte(code), Value: snapshotRead(t, "accounts", map[string]any{"code": code, "name": name})}
	}
	children := func(round string, from, to int) (recs []*kgo.Record) {
		for i := from; i < to; i++ {
			parent := fmt.Sprintf("%s-A-%d", round, i)
			for k := range 3 {
				code := fmt.Sprintf("%s-C-%d-%d", round, i, k)
				recs = append(recs, &kgo.Record{Topic: contacts, Key: []byte(code),
					Value: snapshotRead(t, "contacts", map[string]any{"code": code, "last_name": "Child " + code, "account_code": parent})})
			}
			code := fmt.Sprintf("%s-I-%d", round, i)
			recs = append(recs, &kgo.Record{Topic: invoices, Key: []byte(code),
				Value: snapshotRead(t, "invoices", map[string]any{"code": code, "title": "Invoice " + code, "account_code": parent})})
		}
		return recs
	}
	parents := func(round string, n int, bad int) (recs []*kgo.Record) {
		for i := range n {
			var name any = "Account " + fmt.Sprint(i)
			if i == bad {
				name = nil // REQUIRED_FIELD_MISSING: this parent never exists
			}
			recs = append(recs, account(fmt.Sprintf("%s-A-%d", round, i), name))
		}
		return recs
	}

	// Round 1: children first, parents 1.5 s later, one parent failing.
	const n1 = 40
	w.produce(children("r1", 0, n1)...)
	time.Sleep(1500 * time.Millisecond)
	w.produce(parents("r1", n1, 7)...)
	rr.waitFor(t, n1*5, 60*time.Second)

	// Round 2: parents first, in a slow job; children of the last of them
	// while it runs. The emulator creates 200 rows at a time, 1,000 rows
	// a second: the last parents exist 0.8 s after their job starts, the
	// children's rows would be processed at once.
	retriesBefore := counterValue(t, opts.Metrics.RowRetries.WithLabelValues("INVALID_FIELD"))
	w.emu.SetFaults(bulkemu.Faults{RowsPerSecond: 1000})
	const n2, kids2 = 1000, 50
	w.produce(parents("r2", n2, -1)...)
	time.Sleep(200 * time.Millisecond)
	late := children("r2", n2-kids2, n2)
	slices.Reverse(late)
	w.produce(late...)
	rr.waitFor(t, n1*5+n2+kids2*4, 90*time.Second)
	w.emu.SetFaults(bulkemu.Faults{})
	if got := counterValue(t, opts.Metrics.RowRetries.WithLabelValues("INVALID_FIELD")) - retriesBefore; got != 0 {
		t.Errorf("round 2: %v child rows retried for a missing parent; children must wait for their parents' job", got)
	}

	results, dlq := rr.snapshot()
	for src, rs := range results {
		if len(rs) != 1 {
			t.Errorf("%v: %d results, want 1", src, len(rs))
			continue
		}
		if !rs[0].Success {
			if src.Topic == accounts {
				continue
			}
			if rs[0].ErrorCode != "INVALID_FIELD" || !strings.Contains(rs[0].Error, "r1-A-7") {
				t.Errorf("%v failed: %s %s", src, rs[0].ErrorCode, rs[0].Error)
			}
		}
	}
	// The bad parent and its 4 children, and nothing else, failed.
	if len(dlq) != 5 {
		t.Errorf("%d dead-letter copies, want 5 (r1-A-7 and its 3 Contacts and 1 Invoice)", len(dlq))
	}

	// The org: every child of a good parent points to it.
	ids := map[string]string{} // Account Id → external id
	for _, r := range w.emu.Records("Account") {
		ids[r.ID] = r.Fields["External_Id__c"]
	}
	if len(ids) != n1-1+n2 {
		t.Errorf("%d Accounts in the org, want %d", len(ids), n1-1+n2)
	}
	const kids = n1 - 1 + kids2 // good parents with children
	check := func(object, lookup string, want int) {
		got := 0
		for _, r := range w.emu.Records(object) {
			code := r.Fields["External_Id__c"]
			parent := ids[r.Fields[lookup]]
			round, rest, _ := strings.Cut(code, "-")
			i := strings.Split(rest, "-")[1]
			if parent != fmt.Sprintf("%s-A-%s", round, i) {
				t.Errorf("%s %s: %s is %q, want %s-A-%s", object, code, lookup, parent, round, i)
			}
			got++
		}
		if got != want {
			t.Errorf("%d %s records, want %d", got, object, want)
		}
	}
	check("Contact", "AccountId", 3*kids)
	check("Invoice__c", "Customer__c", kids)
}

// With one job slot, a job whose children wait for parents not yet
// consumed gives its slot up between its rounds, so the parents' job can
// run in it: the children succeed within ParentWait. Were the slot held
// through the back-off, the parents would wait for the children's window
// to end and every child would fail.
func TestWaitingChildrenLeaveTheirSlot(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts", "crm.contacts")
	rr := w.readResults()
	accounts := Route{Topics: []string{"crm.accounts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Account", Operation: event.Upsert, ExternalIDField: "External_Id__c"})}
	contacts := Route{Topics: []string{"crm.contacts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Contact", Operation: event.Upsert, ExternalIDField: "External_Id__c"})}
	opts := w.options("one-slot", accounts, contacts)
	opts.MaxJobsInFlight = 1
	opts.ParentWait = 6 * time.Second
	opts.RetryBase, opts.RetryMax = 300*time.Millisecond, 600*time.Millisecond
	run := w.start(opts)
	defer run.shutdown(t)

	const n = 20
	var kids, parents []*kgo.Record
	for i := range n {
		kids = append(kids, &kgo.Record{Topic: "crm.contacts", Key: []byte(fmt.Sprintf("C-%d", i)),
			Value: fmt.Appendf(nil, `{"External_Id__c":"C-%d","LastName":"Kid %d","Account.External_Id__c":"P-%d"}`, i, i, i)})
		parents = append(parents, &kgo.Record{Topic: "crm.accounts", Key: []byte(fmt.Sprintf("P-%d", i)),
			Value: fmt.Appendf(nil, `{"External_Id__c":"P-%d","Name":"Parent %d"}`, i, i)})
	}
	w.produce(kids...)
	// The children's job has failed them once and backs off, in a loop of
	// rounds, before their parents are produced.
	for deadline := time.Now().Add(10 * time.Second); counterValue(t, opts.Metrics.RowRetries.WithLabelValues("INVALID_FIELD")) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the children were never retried for their missing parents")
		}
	}
	w.produce(parents...)
	rr.waitFor(t, 2*n, 30*time.Second)
	results, _ := rr.snapshot()
	for src, rs := range results {
		if len(rs) != 1 || !rs[0].Success {
			t.Errorf("%v: %+v, want one success", src, rs)
		}
	}
}

// Parent columns are told by their names until describe answers; what is
// kept stays bounded however many objects and columns the data makes up.
func TestParentReferencesByNameAndBounded(t *testing.T) {
	p := &Pipeline{refs: newReferences(), ids: newIdentities(10)}
	c := &event.Change{Object: "Contact", Operation: event.Upsert, ExternalIDField: "External_Id__c", Fields: []event.Field{
		{Name: "External_Id__c", Value: event.Text("C-1")},
		{Name: "Account.External_Id__c", Value: event.Text("A-1")},
		{Name: "Parent__r.Code__c", Value: event.Text("X")},
		{Name: "OwnerId", Value: event.Text("005000000000001AAA")},
		{Name: "Name", Value: event.Text("n")},
	}}
	got := p.parents(c)
	want := []string{"Account/external_id__c=a-1", "Parent__c/code__c=x", "Owner/id=005000000000001"}
	if !slices.Equal(got, want) {
		t.Errorf("parents = %q, want %q", got, want)
	}
	// Described, a custom lookup is a parent column for the row sort too.
	if got := p.refs.parentColumns("Contact", []string{"Name", "Customer__c"}); got != nil {
		t.Errorf("parent columns before describe = %q, want nil (names decide)", got)
	}
	p.refs.objects["Invoice__c"] = refsOf(&bulk.ObjectDescription{Name: "Invoice__c", Fields: []bulk.FieldDescription{
		{Name: "Name", Type: "string"},
		{Name: "Customer__c", Type: "reference", ReferenceTo: []string{"Account"}, RelationshipName: "Customer__r"}}})
	if got, want := p.refs.parentColumns("Invoice__c", []string{"Name", "Customer__c", "Customer__r.External_Id__c"}), []string{"Customer__c", "Customer__r.External_Id__c"}; !slices.Equal(got, want) {
		t.Errorf("parent columns of Invoice__c = %q, want %q", got, want)
	}
	delete(p.refs.objects, "Invoice__c")
	for i := range 3 * maxObjects {
		p.parents(&event.Change{Object: fmt.Sprintf("Made_Up_%d__c", i), Operation: event.Upsert,
			Fields: []event.Field{{Name: fmt.Sprintf("Col_%d__c", i), Value: event.Text("v")}}})
	}
	if len(p.refs.objects) > maxObjects {
		t.Errorf("%d objects kept, want at most %d", len(p.refs.objects), maxObjects)
	}
	for i := range 3 * maxColumns {
		c.Fields = append(c.Fields[:0], event.Field{Name: fmt.Sprintf("Col_%d__c", i), Value: event.Text("v")})
		p.parents(c)
	}
	if n := len(p.refs.objects["Contact"].seen); n > maxColumns {
		t.Errorf("%d columns kept, want at most %d", n, maxColumns)
	}
}

// The columns of an object's last change are remembered in their order:
// a change naming the same fields in another order, or other fields, gets
// its own parents.
func TestParentsOfChangesWithOtherColumns(t *testing.T) {
	p := &Pipeline{refs: newReferences(), ids: newIdentities(10)}
	change := func(fields ...string) *event.Change {
		c := &event.Change{Object: "Contact", Operation: event.Upsert, ExternalIDField: "External_Id__c"}
		for i := 0; i < len(fields); i += 2 {
			c.Fields = append(c.Fields, event.Field{Name: fields[i], Value: event.Text(fields[i+1])})
		}
		return c
	}
	for _, c := range []struct {
		change *event.Change
		want   []string
	}{
		{change("Name", "n", "Account.External_Id__c", "A-1"), []string{"Account/external_id__c=a-1"}},
		{change("Name", "n", "Account.External_Id__c", "A-2"), []string{"Account/external_id__c=a-2"}},
		{change("Account.External_Id__c", "A-3", "Name", "n"), []string{"Account/external_id__c=a-3"}},
		{change("Account.External_Id__c", "n", "Name", "A-4"), []string{"Account/external_id__c=n"}},
		{change("Name", "A-5", "Title", "x"), nil},
		{change("Name", "A-5", "Title", "x", "Parent__r.Code__c", "P"), []string{"Parent__c/code__c=p"}},
		{change("Title", "x", "Name", "A-5"), nil},
		{change("Name", "n", "Account.Ext__c", "A"), []string{"Account/ext__c=a"}},
		{change("Name", "n", "Partner.Ext__c", "A"), []string{"Partner/ext__c=a"}},
	} {
		if got := p.parents(c.change); !slices.Equal(got, c.want) {
			t.Errorf("parents of %v = %q, want %q", c.change.Fields, got, c.want)
		}
	}
}
