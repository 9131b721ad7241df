package preflight

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// env is a Kafka cluster and a Salesforce org, both in process.
type env struct {
	kc  *kgo.Client
	sf  *bulk.Client
	emu *bulkemu.Emulator
}

func newEnv(t *testing.T, opts bulkemu.Options, topics ...string) *env {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	kc, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	emu := bulkemu.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	tokens, instance, err := bulk.ClientCredentials(context.Background(), srv.URL, "bulkstream", "bulkstream")
	if err != nil {
		t.Fatal(err)
	}
	sf, err := bulk.New(instance, tokens, bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	return &env{kc: kc, sf: sf, emu: emu}
}

// parse reads a configuration of routes only.
func parse(t *testing.T, routes string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(`kafka: {brokers: ["127.0.0.1:9092"], group: g}
salesforce:
  login_url: http://127.0.0.1:8443
  auth: {client_id: bulkstream, client_secret: bulkstream}
routes:
`+routes), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func lines(r *Report) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.String())
	}
	return out
}

func check(t *testing.T, e *env, cfg *config.Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Check(ctx, cfg, e.kc, e.sf)
}

// One configuration with every kind of problem: each is reported, once,
// on one line naming the key, the route and the cause.
func TestEveryKindOfProblem(t *testing.T) {
	e := newEnv(t, bulkemu.Options{}, "crm.accounts", "crm.contacts", "crm.leads")
	cfg := parse(t, `
  - name: accounts
    topics: [crm.accounts, crm.acounts]
    format: json
    object: Account
    operation: upsert
    external_id_field: External_Id__c
    fields: [Name, Nme, CreatedDate, Parent.External_Id__c, Parent.Name, Owner.Id]
  - topics: [crm.opportunities]
    format: json
    object: Oportunity
    operation: insert
  - name: contacts
    topics: [crm.contacts]
    format: json
    object: Contact
    operation: upsert
    external_id_field: LastName
    fields: [LastName, Account.External_Id__c, Account.Nope__c, Id]
  - name: purge
    topics: [crm.leads]
    format: json
    object: Lead
    operation: hardDelete
    fields: [Id, Email]
  - name: later
    topic_regex: billing\..*
    format: json
    object: Contact
    operation: insert
    fields: [FirstName, Id]
`)
	r := check(t, e, cfg)
	want := []string{
		"error: routes[0].topics[1] (accounts): topic crm.acounts: does not exist (or the client may not describe it)",
		"error: routes[0].fields[1] (accounts): Account.Nme: no such field on Account",
		"error: routes[0].fields[2] (accounts): Account.CreatedDate: not createable nor updateable for this user, and the route does upsert",
		"error: routes[0].fields[4] (accounts): Account.Parent.Name: Account.Name is not an external id; a relationship column names its parent by an external id or Id",
		"error: routes[0].fields[5] (accounts): Account.Owner.Id: Account has no relationship named Owner",
		"error: routes[1].topics[0]: topic crm.opportunities: does not exist (or the client may not describe it)",
		"error: routes[1].object: Oportunity: no such object in the org (or the user may not see it)",
		"error: routes[2].external_id_field (contacts): Contact.LastName: not an external id field; upsert matches records on an external id (or Id)",
		"error: routes[2].fields[2] (contacts): Contact.Account.Nope__c: Account has no field Nope__c",
		"error: routes[3].fields[1] (purge): Lead.Email: a hardDelete job takes only the Id column",
		"error: routes[3].operation (purge): Lead: hardDelete is not enabled for this user (the Bulk API Hard Delete permission): hardDelete operation requires special user profile permission, please contact your system administrator",
		`warning: routes[4].topic_regex (later): no topic matches billing\..* yet; the route waits for one`,
		"error: routes[4].fields[1] (later): Contact.Id: an insert cannot set Id",
		"warning: routes[4].fields (later): Contact.LastName: required on create and not declared; records that create without it fail with REQUIRED_FIELD_MISSING",
	}
	if got := lines(r); !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := r.Errors(); n != 12 {
		t.Errorf("%d errors, want 12", n)
	}
}

// A configuration that fits the org and the cluster has no problem, and the
// hardDelete probe leaves no job behind.
func TestNoProblem(t *testing.T) {
	e := newEnv(t, bulkemu.Options{HardDeleteAllowed: true}, "crm.accounts", "crm.contacts", "billing.invoices")
	cfg := parse(t, `
  - topics: [crm.accounts]
    format: json
    object: account
    operation: upsert
    external_id_field: external_id__c
    fields: [Name, Industry, Parent.External_Id__c]
  - topics: [crm.contacts]
    object: Contact
    fields: [LastName, Account.Id, Id]
  - topic_regex: billing\..*
    format: json
    object: Lead
    operation: hardDelete
    fields: [Id]
`)
	r := check(t, e, cfg)
	if got := lines(r); len(got) != 0 {
		t.Errorf("problems:\n%s", strings.Join(got, "\n"))
	}
	// The descriptions read are handed on by lower-case name, so that the
	// pipeline does not describe the objects again.
	for _, name := range []string{"account", "contact", "lead"} {
		if d := r.Objects[name]; d == nil || !strings.EqualFold(d.Name, name) {
			t.Errorf("Objects[%q] = %+v, want the object's description", name, d)
		}
	}
	ctx := context.Background()
	for job, err := range e.sf.ListIngestJobs(ctx, bulk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("job %s (%s %s) left behind in state %s", job.ID, job.Operation, job.Object, job.State)
	}
}

// A side that cannot be reached is one problem, however many routes there
// are, and the other side is still checked.
func TestUnreachable(t *testing.T) {
	e := newEnv(t, bulkemu.Options{}, "crm.accounts")
	cfg := parse(t, `
  - topics: [crm.accounts]
    format: json
    object: Acount
    operation: insert
  - topics: [crm.contacts]
    format: json
    object: Contact
    operation: insert
`)
	down := httptest.NewServer(bulkemu.New(bulkemu.Options{}))
	tokens, instance, err := bulk.ClientCredentials(context.Background(), down.URL, "bulkstream", "bulkstream")
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	sf, _ := bulk.New(instance, tokens, bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 1}))
	deadKafka, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer deadKafka.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r := Check(ctx, cfg, deadKafka, e.sf)
	got := lines(r)
	if len(got) != 2 || !strings.HasPrefix(got[0], "error: kafka.brokers: cannot list the cluster's topics: ") ||
		got[1] != "error: routes[0].object: Acount: no such object in the org (or the user may not see it)" {
		t.Errorf("Kafka down:\n%s", strings.Join(got, "\n"))
	}

	r = Check(context.Background(), cfg, e.kc, sf)
	got = lines(r)
	if len(got) != 2 || !strings.HasPrefix(got[0], "error: salesforce: the org does not answer: limits: ") ||
		got[1] != "error: routes[1].topics[0]: topic crm.contacts: does not exist (or the client may not describe it)" {
		t.Errorf("Salesforce down:\n%s", strings.Join(got, "\n"))
	}
}

// An org that has used most of its daily API requests is a warning.
func TestAPIUsageWarning(t *testing.T) {
	e := newEnv(t, bulkemu.Options{DailyAPIRequests: 10}, "crm.accounts")
	cfg := parse(t, "  - topics: [crm.accounts]\n")
	for range 8 {
		e.sf.Limits(context.Background())
	}
	want := fmt.Sprintf("warning: salesforce: the org has used %d of its 10 daily API requests", 9)
	if got := lines(check(t, e, cfg)); !slices.Equal(got, []string{want}) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

// A source topic that takes larger records than the dead-letter topic is a
// warning naming both topics and sizes: against the limit the connector
// writes with while the dead-letter topic does not exist, then against the
// dead-letter topic's own max.message.bytes.
func TestRecordSizeWarning(t *testing.T) {
	e := newEnv(t, bulkemu.Options{}, "crm.accounts")
	adm := kadm.NewClient(e.kc)
	create := func(topic string, maxMessageBytes string) {
		t.Helper()
		if _, err := adm.CreateTopic(context.Background(), 1, -1, map[string]*string{"max.message.bytes": &maxMessageBytes}, topic); err != nil {
			t.Fatal(err)
		}
	}
	create("crm.big", "16777216")
	cfg := parse(t, "  - topics: [crm.accounts]\n  - topic_regex: crm\\.b.*\n")
	want := "warning: results.max_record_bytes: topic crm.big: takes records of up to 16777216 bytes (its max.message.bytes), more than the 1048588 bytes " +
		"dead-letter topic bulkstream.dlq takes from the connector (results.max_record_bytes 1047564, plus 1024 bytes of batch overhead); " +
		"the dead-letter copy of a larger record that fails is cut to fit (bulkstream.truncated header) and cannot be replayed"
	if got := lines(check(t, e, cfg)); !slices.Equal(got, []string{want}) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}

	create("bulkstream.dlq", "500000")
	want = "warning: results.dead_letter_topic: topic %s: takes records of up to %d bytes (its max.message.bytes), more than the 500000 bytes " +
		"dead-letter topic bulkstream.dlq takes (its max.message.bytes); " +
		"the dead-letter copy of a larger record that fails is cut to fit (bulkstream.truncated header) and cannot be replayed"
	r := check(t, e, cfg)
	if got := lines(r); !slices.Equal(got, []string{fmt.Sprintf(want, "crm.accounts", 1048588), fmt.Sprintf(want, "crm.big", 16777216)}) {
		t.Errorf("problems:\n%s", strings.Join(got, "\n"))
	}
	if r.Errors() != 0 {
		t.Errorf("%d errors, want warnings only", r.Errors())
	}
}
