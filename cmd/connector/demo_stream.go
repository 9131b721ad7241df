package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/pipeline"
)

// playStream produces the demo's stream and waits for its results: first
// the Account events, then, once every account event has its result (so the
// parents exist), the Contact events. When every event has a result it stops
// the pipeline (unless --keep-running), reads the result topics to their end
// to catch any second result, and returns the report. A timeout still
// returns a report, whose verdict names the events without a result.
func playStream(ctx context.Context, cfg demoConfig, env *demoEnv, run *pipelineRun, say func(string, ...any)) (*demoReport, error) {
	col, err := startCollector(env.kafka)
	if err != nil {
		return nil, err
	}
	defer col.close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(env.kafka), kgo.ClientID("bulkstream-demo-producer"), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer prod.Close()

	gen := streamGen{rng: rand.New(rand.NewPCG(cfg.seed, 0x5eed))}
	deadline := time.Now().Add(cfg.timeout)
	accounts := gen.accounts(cfg.events)
	n := max(1, cfg.events/2)
	contacts := gen.contacts(n, createdAccounts(accounts))
	say("producing %s Account upserts to %s and %s Contact upserts to %s, interleaved: a Contact follows the create of its Account "+
		"on the other topic, without waiting for its result (the pipeline holds it until the Account is in)",
		thousands(cfg.events), demoAccounts, thousands(n), demoContacts)
	events, err := produce(ctx, prod, interleave(accounts, contacts))
	if err != nil {
		return nil, err
	}
	waitErr := col.waitFor(ctx, events, deadline, run.done)
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	case errors.Is(waitErr, errPipelineStopped):
		return nil, fmt.Errorf("%w: %v", waitErr, run.err)
	case waitErr != nil:
		say("%v; summarizing what arrived", waitErr)
	default:
		say("every event has its result")
	}
	if !cfg.keepRunning {
		say("stopping the pipeline")
		if err := run.stop(); err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
	}
	if err := col.drain(ctx, 10*time.Second); err != nil {
		return nil, fmt.Errorf("reading the result topics to their end: %w", err)
	}
	return newReport(cfg, env, events, col, run.p.Stats()), nil
}

// createdAccounts returns the external ids of the accounts the drafts
// create, in order: the parents Contact events may name.
func createdAccounts(accounts []draft) []string {
	var ids []string
	seen := map[string]bool{}
	for _, d := range accounts {
		if !seen[d.key] {
			seen[d.key] = true
			ids = append(ids, d.key)
		}
	}
	return ids
}

// interleave merges the Contact drafts into the Account drafts, each
// Contact right after the create of the Account it names (a Contact of a
// gone Account, or a later change of a Contact, where the one before it
// went), so that each record's changes keep their order and a Contact
// never comes before its Account's create: the stream a CDC snapshot of
// two tables gives, consumed in any order across the two topics.
func interleave(accounts, contacts []draft) []draft {
	created := map[string]int{} // account → index of its create
	for i, d := range accounts {
		if _, ok := created[d.key]; !ok {
			created[d.key] = i
		}
	}
	after := make([][]draft, len(accounts)) // contacts to place after account i
	at := 0
	for _, c := range contacts {
		var fields map[string]any
		if json.Unmarshal(c.value, &fields) == nil {
			if parent, ok := fields["Account.External_Id__c"].(string); ok {
				if i, ok := created[parent]; ok {
					at = max(at, i)
				}
			}
		}
		after[at] = append(after[at], c)
	}
	out := make([]draft, 0, len(accounts)+len(contacts))
	for i, a := range accounts {
		out = append(out, a)
		out = append(out, after[i]...)
	}
	return out
}

// draft is an event before it is produced.
type draft struct {
	topic, key string
	value      []byte
}

// produced is an event as Kafka stored it.
type produced struct {
	source pipeline.Source
	key    string
	at     time.Time // the record timestamp: when it was produced (milliseconds)
}

// produce writes drafts in order, in chunks stamped with the time they are
// sent, and returns where Kafka put each.
func produce(ctx context.Context, cl *kgo.Client, drafts []draft) ([]produced, error) {
	out := make([]produced, 0, len(drafts))
	for chunk := range slices.Chunk(drafts, 500) {
		now := time.Now()
		recs := make([]*kgo.Record, len(chunk))
		for i, d := range chunk {
			recs[i] = &kgo.Record{Topic: d.topic, Key: []byte(d.key), Value: d.value, Timestamp: now}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return nil, fmt.Errorf("produce to %s: %w", chunk[0].topic, err)
		}
		for _, r := range recs { // kgo filled in partition, offset and the stored timestamp
			out = append(out, produced{source: pipeline.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
				key: string(r.Key), at: r.Timestamp})
		}
	}
	return out, nil
}

// streamGen makes the demo's change events, deterministically for its
// random source: the same seed gives the same events in the same order.
//
// Accounts are created and then updated over time: about four events per
// account, the updates soon after the create (each picks one of the
// recentWindow accounts created last). An update carries only the fields that changed, as
// Salesforce's own change events do; the upsert leaves the others alone.
// A few percent of the events are invalid, each in a way a real stream
// goes wrong: a create without the required Name, a number that is not
// one, a record value cut short. Failures then cascade as they would in
// Salesforce: the later updates of an account whose create failed fail too.
type streamGen struct {
	rng *rand.Rand
}

// recentWindow is how many of the latest records an update picks from.
const recentWindow = 100

// recent returns the index of one of the last recentWindow of n records.
func (g *streamGen) recent(n int) int { return n - 1 - g.rng.IntN(min(n, recentWindow)) }

// account is the state the generator keeps of one Account.
type account struct {
	id, name, industry, phone, website string
	revenue, employees                 int64
}

// accounts returns n Account events on crm.accounts, in the envelope
// format, keyed by external id so that the events of one account stay in
// order on one partition.
func (g *streamGen) accounts(n int) []draft {
	total := max(1, n/4)
	var accts []*account
	out := make([]draft, 0, n)
	for i := range n {
		// Spread the creates over the stream: create with the share of
		// creates still due among the events still due.
		if len(accts) == 0 || len(accts) < total && g.rng.IntN(n-i) < total-len(accts) {
			a := g.newAccount(len(accts) + 1)
			accts = append(accts, a)
			out = append(out, g.accountCreate(a))
			continue
		}
		out = append(out, g.accountUpdate(accts[g.recent(len(accts))]))
	}
	return out
}

var (
	companyNames = []string{"Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Hooli", "Vandelay",
		"Soylent", "Cyberdyne", "Tyrell", "Aperture", "Oscorp", "Nakatomi", "Monarch", "Pied Piper", "Dunder Mifflin",
		"Prestige", "Gekko", "Sterling", "Bluth", "Krusty", "Duff", "Cogswell", "Spacely", "Primatech", "Rekall"}
	companyKinds = []string{"Industries", "Holdings", "Labs", "Logistics", "Foods", "Energy", "Systems", "Partners",
		"Group", "Analytics", "Robotics", "Health", "Capital", "Outfitters", "Media", "Airlines"}
	industries = []string{"Agriculture", "Banking", "Chemicals", "Communications", "Construction", "Education",
		"Energy", "Healthcare", "Manufacturing", "Retail", "Technology", "Transportation"}
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Frances", "Dennis",
		"Radia", "Tim", "Katherine", "Donald", "Hedy", "John", "Sophie", "Leslie", "Anita", "Niklaus", "Joan", "Guido"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Torvalds",
		"Allen", "Ritchie", "Perlman", "Berners-Lee", "Johnson", "Knuth", "Lamarr", "McCarthy", "Wilson", "Lamport",
		"Borg", "Wirth", "Clarke", "van Rossum"}
)

func (g *streamGen) pick(from []string) string { return from[g.rng.IntN(len(from))] }

func (g *streamGen) newAccount(n int) *account {
	name := g.pick(companyNames) + " " + g.pick(companyKinds)
	return &account{
		id:        fmt.Sprintf("ACC-%06d", n),
		name:      name,
		industry:  g.pick(industries),
		phone:     g.phone(),
		website:   "https://www." + slug(name) + ".example",
		revenue:   (1 + g.rng.Int64N(500)) * 100_000,
		employees: 5 + g.rng.Int64N(20_000),
	}
}

func (g *streamGen) phone() string {
	return fmt.Sprintf("+1 %03d 555 %04d", 200+g.rng.IntN(800), g.rng.IntN(10_000))
}

// accountCreate is the first event of an account: all its fields. 3% lack
// the required Name (REQUIRED_FIELD_MISSING).
func (g *streamGen) accountCreate(a *account) draft {
	fields := map[string]any{"External_Id__c": a.id, "Name": a.name, "Industry": a.industry,
		"AnnualRevenue": a.revenue, "NumberOfEmployees": a.employees, "Phone": a.phone, "Website": a.website}
	if g.rng.IntN(100) < 3 {
		delete(fields, "Name")
	}
	return draft{topic: demoAccounts, key: a.id, value: envelope("Account", fields)}
}

// accountUpdate changes one or two fields of a. 1% of updates are cut short
// (BULKSTREAM_DECODE) and 1.5% carry a number that is not one
// (INVALID_FIELD: Failed to deserialize field …).
func (g *streamGen) accountUpdate(a *account) draft {
	fields := map[string]any{"External_Id__c": a.id}
	for range 1 + g.rng.IntN(2) {
		switch g.rng.IntN(10) {
		case 0, 1, 2:
			a.revenue = max(100_000, a.revenue+(g.rng.Int64N(21)-10)*50_000)
			fields["AnnualRevenue"] = a.revenue
		case 3, 4:
			a.employees = max(1, a.employees+g.rng.Int64N(201)-100)
			fields["NumberOfEmployees"] = a.employees
		case 5, 6:
			a.phone = g.phone()
			fields["Phone"] = a.phone
		case 7, 8:
			a.industry = g.pick(industries)
			fields["Industry"] = a.industry
		default: // a rename
			a.name = g.pick(companyNames) + " " + g.pick(companyKinds)
			fields["Name"] = a.name
		}
	}
	value := envelope("Account", fields)
	switch r := g.rng.IntN(1000); {
	case r < 10:
		value = value[:len(value)/2]
	case r < 25:
		bad := []string{"about 250", "12k", "n/a", "1,200"}
		fields["NumberOfEmployees"] = g.pick(bad)
		value = envelope("Account", fields)
	}
	return draft{topic: demoAccounts, key: a.id, value: value}
}

// contact is the state the generator keeps of one Contact.
type contact struct {
	id, first, last string
}

// contacts returns n Contact events on crm.contacts, in the json format
// (the route says Contact, upsert, External_Id__c), each naming its Account
// by external id (Account.External_Id__c) among parents. About a third of
// the events update the Email of a recent contact. 3% of the creates name an
// account that does not exist (INVALID_FIELD), and 1.5% of all events carry
// a malformed email (INVALID_EMAIL_ADDRESS).
func (g *streamGen) contacts(n int, parents []string) []draft {
	total := max(1, n*2/3)
	var people []*contact
	out := make([]draft, 0, n)
	for i := range n {
		fields := map[string]any{}
		var c *contact
		if len(people) == 0 || len(people) < total && g.rng.IntN(n-i) < total-len(people) {
			c = &contact{id: fmt.Sprintf("CON-%06d", len(people)+1), first: g.pick(firstNames), last: g.pick(lastNames)}
			people = append(people, c)
			parent := fmt.Sprintf("ACC-GONE-%04d", g.rng.IntN(10_000))
			if len(parents) > 0 && g.rng.IntN(100) >= 3 {
				parent = g.pick(parents)
			}
			fields["FirstName"], fields["LastName"], fields["Account.External_Id__c"] = c.first, c.last, parent
		} else {
			c = people[g.recent(len(people))]
		}
		fields["External_Id__c"] = c.id
		fields["Email"] = g.email(c)
		value, _ := json.Marshal(fields)
		out = append(out, draft{topic: demoContacts, key: c.id, value: value})
	}
	return out
}

func (g *streamGen) email(c *contact) string {
	domain := slug(g.pick(companyNames)) + ".example"
	if g.rng.IntN(1000) < 15 {
		return slug(c.first) + "." + slug(c.last) + "(at)" + domain
	}
	return slug(c.first) + "." + slug(c.last) + "@" + domain
}

// envelope is the envelope-format value of an upsert by External_Id__c.
func envelope(object string, fields map[string]any) []byte {
	b, _ := json.Marshal(struct {
		Object          string         `json:"object"`
		Operation       string         `json:"operation"`
		ExternalIDField string         `json:"externalIdField"`
		Fields          map[string]any `json:"fields"`
	}{object, "upsert", "External_Id__c", fields})
	return b
}

// slug lower-cases s and drops what is not a letter or digit.
func slug(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, s)
}
