// Package preflight checks a configuration against the Kafka cluster and
// the Salesforce org it names, before any data moves, and reports every
// problem it finds rather than the first: routes whose topics do not exist,
// objects the org does not have, fields that are unknown or that the user
// may not write with the route's operation, upsert keys that are not
// external ids, relationship columns that do not resolve, hardDelete
// without the permission it needs, and topics that take records larger than
// the dead-letter topic can copy (a warning).
//
// Events carry their fields, so most of what a route writes is known only
// from the data. The check covers what the configuration says: each route's
// object, operation and external_id_field, and the fields a route declares
// under fields. `connector check` prints the report; `connector run` makes
// the same check on start and refuses to start on errors unless told to
// take them as warnings.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/internal/pipeline"
	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// Severity says whether a problem stops the connector from starting.
type Severity int

// Severities.
const (
	// Warning is a likely problem the data may not hit: a topic pattern
	// that matches no topic yet, a required field not declared.
	Warning Severity = iota
	// Error is a problem every affected record would hit.
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Problem is one thing found wrong.
type Problem struct {
	Severity Severity
	// Key is the configuration key at fault, as config errors name it:
	// routes[1].fields[2], routes[0].topics[0], kafka.brokers, salesforce.
	Key string
	// Route is the route's name, if it has one.
	Route string
	// Subject is what is wrong, such as Account.Nme or topic crm.acounts;
	// empty when Key says it all.
	Subject string
	Cause   string
	// Transient says that the check itself could not be made (Salesforce
	// did not answer, answered 5xx, or kept refusing the session), so the
	// same check may pass when tried again.
	Transient bool
}

// String formats the problem as one line:
//
//	error: routes[1].fields[2] (billing): Invoice__c.Amount__c: not createable, and the route inserts
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Severity.String() + ": " + p.Key)
	if p.Route != "" {
		b.WriteString(" (" + p.Route + ")")
	}
	b.WriteString(": ")
	if p.Subject != "" {
		b.WriteString(p.Subject + ": ")
	}
	b.WriteString(p.Cause)
	return b.String()
}

// Report is what a check found, in the order of the configuration: Kafka,
// Salesforce, then route by route.
type Report struct {
	Problems []Problem
	// Objects are the descriptions the check read, by object name in
	// lower case, for the pipeline to reuse (its parent columns) rather
	// than describe the objects again.
	Objects map[string]*bulk.ObjectDescription
}

// Errors returns the number of problems of severity Error.
func (r *Report) Errors() int {
	n := 0
	for _, p := range r.Problems {
		if p.Severity == Error {
			n++
		}
	}
	return n
}

// Check checks cfg against the cluster kc is connected to and the org of
// sf; a nil client skips its side. The Kafka and Salesforce sides run at
// the same time, and ctx bounds both: a side that cannot be reached is one
// problem, not one per route. Check makes no change in either system, but
// for a route with operation hardDelete it creates an empty hardDelete job,
// the only way to learn whether the user has the permission, and aborts and
// deletes it at once. Salesforce API calls: one for the limits, one
// describe per object named, three per hardDelete object.
func Check(ctx context.Context, cfg *config.Config, kc *kgo.Client, sf *bulk.Client) *Report {
	var kafka, salesforce []Problem
	var objects map[string]*bulk.ObjectDescription
	var wg sync.WaitGroup
	if kc != nil {
		wg.Go(func() { kafka = checkKafka(ctx, cfg, kc) })
	}
	if sf != nil {
		wg.Go(func() { salesforce, objects = checkSalesforce(ctx, cfg, sf) })
	}
	wg.Wait()
	// Kafka's and the org's problems, then those of each route in order.
	r := &Report{Objects: objects}
	for _, ps := range [][]Problem{kafka, salesforce} {
		for _, p := range ps {
			if !strings.HasPrefix(p.Key, "routes[") {
				r.Problems = append(r.Problems, p)
			}
		}
	}
	for i := range cfg.Routes {
		prefix := fmt.Sprintf("routes[%d]", i)
		for _, ps := range [][]Problem{kafka, salesforce} {
			for _, p := range ps {
				if p.Key == prefix || strings.HasPrefix(p.Key, prefix+".") {
					r.Problems = append(r.Problems, p)
				}
			}
		}
	}
	return r
}

func routeProblem(cfg *config.Config, i int, sev Severity, key, subject, format string, args ...any) Problem {
	return Problem{Severity: sev, Key: fmt.Sprintf("routes[%d]%s", i, key), Route: cfg.Routes[i].Name,
		Subject: subject, Cause: fmt.Sprintf(format, args...)}
}

// checkKafka looks for the routes' topics, and compares the size of the
// records they take with what the dead-letter topic takes.
func checkKafka(ctx context.Context, cfg *config.Config, kc *kgo.Client) []Problem {
	adm := kadm.NewClient(kc)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return []Problem{{Severity: Error, Key: "kafka.brokers", Cause: fmt.Sprintf("cannot list the cluster's topics: %v", err)}}
	}
	var out []Problem
	var sources []string // the routes' topics that exist
	for i, r := range cfg.Routes {
		for j, t := range r.Topics {
			if !topics.Has(t) {
				out = append(out, routeProblem(cfg, i, Error, fmt.Sprintf(".topics[%d]", j), "topic "+t,
					"does not exist (or the client may not describe it)"))
			} else if !slices.Contains(sources, t) {
				sources = append(sources, t)
			}
		}
		if r.TopicRegex != "" && !slices.ContainsFunc(topics.Names(), r.Match) {
			out = append(out, routeProblem(cfg, i, Warning, ".topic_regex", "", "no topic matches %s yet; the route waits for one", r.TopicRegex))
		}
		for _, t := range topics.Names() {
			if r.TopicRegex != "" && r.Match(t) && !slices.Contains(sources, t) {
				sources = append(sources, t)
			}
		}
	}
	return append(out, checkRecordSizes(ctx, cfg, adm, sources)...)
}

// checkRecordSizes warns about each source topic that takes records larger
// (its max.message.bytes) than the dead-letter topic does: the dead-letter
// copy of such a record, should it fail, is cut to fit or only refers to
// the record, and cannot be replayed. What the dead-letter topic takes is
// the smaller of its own max.message.bytes, if it exists, and the
// results.max_record_bytes the connector writes (plus
// pipeline.RecordOverhead, as max.message.bytes counts it).
func checkRecordSizes(ctx context.Context, cfg *config.Config, adm *kadm.Client, sources []string) []Problem {
	dl := cfg.Results.DeadLetterTopic
	if dl == "" || len(sources) == 0 {
		return nil
	}
	// A topic that does not exist (the dead-letter topic, before the first
	// run) answers with an error of its own, and no size.
	configs, err := adm.DescribeTopicConfigs(ctx, append(slices.Clone(sources), dl)...)
	if err != nil {
		return []Problem{{Severity: Warning, Key: "results.max_record_bytes",
			Cause: fmt.Sprintf("cannot compare the size of records the topics take with the dead-letter topic's: %v", err)}}
	}
	maxBytes := map[string]int{}
	for _, rc := range configs {
		if rc.Err != nil {
			continue
		}
		for _, c := range rc.Configs {
			if n, err := strconv.Atoi(c.MaybeValue()); c.Key == "max.message.bytes" && err == nil {
				maxBytes[rc.Name] = n
			}
		}
	}
	limit := int(cfg.Results.MaxRecordBytes) + pipeline.RecordOverhead
	key, takes := "results.max_record_bytes", fmt.Sprintf("dead-letter topic %s takes from the connector (results.max_record_bytes %d, plus %d bytes of batch overhead)",
		dl, cfg.Results.MaxRecordBytes, pipeline.RecordOverhead)
	if n, ok := maxBytes[dl]; ok && n < limit {
		limit, key, takes = n, "results.dead_letter_topic", fmt.Sprintf("dead-letter topic %s takes (its max.message.bytes)", dl)
	}
	var out []Problem
	for _, t := range sources {
		if n, ok := maxBytes[t]; ok && n > limit {
			out = append(out, Problem{Severity: Warning, Key: key, Subject: "topic " + t, Cause: fmt.Sprintf(
				"takes records of up to %d bytes (its max.message.bytes), more than the %d bytes %s; "+
					"the dead-letter copy of a larger record that fails is cut to fit (%s header) and cannot be replayed",
				n, limit, takes, pipeline.HeaderTruncated)})
		}
	}
	return out
}

// usageWarning is the share of the daily API requests above which the
// check warns that the org is running out of them.
const usageWarning = 0.9

// checkSalesforce checks that the org answers, then each route's target.
func checkSalesforce(ctx context.Context, cfg *config.Config, sf *bulk.Client) ([]Problem, map[string]*bulk.ObjectDescription) {
	limits, err := sf.Limits(ctx)
	if err != nil {
		return []Problem{{Severity: Error, Key: "salesforce", Cause: fmt.Sprintf("the org does not answer: %v", err), Transient: bulk.IsRetryable(err)}}, nil
	}
	var out []Problem
	if l, ok := limits["DailyApiRequests"]; ok && l.Max > 0 && float64(l.Max-l.Remaining) >= usageWarning*float64(l.Max) {
		out = append(out, Problem{Severity: Warning, Key: "salesforce", Cause: fmt.Sprintf("the org has used %d of its %d daily API requests", l.Max-l.Remaining, l.Max)})
	}
	o := &org{sf: sf, described: map[string]described{}, hardDeleteProbed: map[string]bool{}}
	for i := range cfg.Routes {
		rc := &routeCheck{cfg: cfg, i: i, r: &cfg.Routes[i], org: o}
		out = append(out, rc.run(ctx)...)
	}
	objects := map[string]*bulk.ObjectDescription{}
	for name, d := range o.described {
		if d.d != nil {
			objects[name] = d.d
		}
	}
	return out, objects
}

// org describes objects once each, and probes hardDelete once per object.
type org struct {
	sf               *bulk.Client
	described        map[string]described // lower-case object name → description
	hardDeleteProbed map[string]bool      // object names
}

type described struct {
	d   *bulk.ObjectDescription
	err error
}

// describe returns the object's description; nil with a nil error if the
// org has no such object.
func (o *org) describe(ctx context.Context, object string) (*bulk.ObjectDescription, error) {
	key := strings.ToLower(object)
	if d, ok := o.described[key]; ok {
		return d.d, d.err
	}
	d, err := o.sf.Describe(ctx, object)
	if e, ok := errors.AsType[*bulk.APIError](err); ok && e.StatusCode == http.StatusNotFound {
		d, err = nil, nil
	}
	o.described[key] = described{d, err}
	return d, err
}

// routeCheck checks one route's object, operation, external id field and
// declared fields.
type routeCheck struct {
	cfg *config.Config
	i   int
	r   *config.Route
	org *org
	obj *bulk.ObjectDescription // the route's object, once described
	out []Problem
}

func (c *routeCheck) add(sev Severity, key, subject, format string, args ...any) {
	c.out = append(c.out, routeProblem(c.cfg, c.i, sev, key, subject, format, args...))
}

func (c *routeCheck) run(ctx context.Context) []Problem {
	if c.r.Object == "" {
		return nil // the events name their objects; nothing to check before data
	}
	obj, err := c.org.describe(ctx, c.r.Object)
	switch {
	case err != nil:
		c.add(Error, ".object", c.r.Object, "cannot describe it: %v", err)
		c.out[len(c.out)-1].Transient = bulk.IsRetryable(err)
		return c.out
	case obj == nil:
		c.add(Error, ".object", c.r.Object, "no such object in the org (or the user may not see it)")
		return c.out
	}
	c.obj = obj
	c.objectAccess()
	c.externalID()
	for j, f := range c.r.Fields {
		c.field(ctx, fmt.Sprintf(".fields[%d]", j), f)
	}
	c.requiredFields()
	if c.r.Operation == bulk.OpHardDelete && !c.org.hardDeleteProbed[obj.Name] {
		c.org.hardDeleteProbed[obj.Name] = true
		c.hardDelete(ctx)
	}
	return c.out
}

// objectAccess checks that the user may do the route's operation on the
// object at all.
func (c *routeCheck) objectAccess() {
	op, o := c.r.Operation, c.obj
	var missing []string
	if (op == bulk.OpInsert || op == bulk.OpUpsert) && !o.Createable {
		missing = append(missing, "create")
	}
	if (op == bulk.OpUpdate || op == bulk.OpUpsert) && !o.Updateable {
		missing = append(missing, "edit")
	}
	if (op == bulk.OpDelete || op == bulk.OpHardDelete) && !o.Deletable {
		missing = append(missing, "delete")
	}
	if len(missing) > 0 {
		c.add(Error, ".operation", o.Name, "the user may not %s %s records, and the route does %s", strings.Join(missing, " or "), o.Name, op)
	}
}

// externalID checks the field upserts match on.
func (c *routeCheck) externalID() {
	name := c.r.ExternalIDField
	if name == "" {
		return
	}
	subject := c.obj.Name + "." + name
	f := c.obj.Field(name)
	switch {
	case f == nil:
		c.add(Error, ".external_id_field", subject, "no such field on %s", c.obj.Name)
	case !f.ExternalID && f.Name != "Id":
		c.add(Error, ".external_id_field", subject, "not an external id field; upsert matches records on an external id (or Id)")
	}
}

// field checks one declared field: a plain field, or a relationship column
// Parent.Field.
func (c *routeCheck) field(ctx context.Context, key, name string) {
	op := c.r.Operation
	subject := c.obj.Name + "." + name
	if op == bulk.OpDelete || op == bulk.OpHardDelete {
		if !strings.EqualFold(name, "Id") {
			c.add(Error, key, subject, "a %s job takes only the Id column", op)
		}
		return
	}
	rel, parentField, isRel := strings.Cut(name, ".")
	var f *bulk.FieldDescription
	if isRel {
		if f = c.obj.Relationship(rel); f == nil {
			c.add(Error, key, subject, "%s has no relationship named %s", c.obj.Name, rel)
			return
		}
		c.parentField(ctx, key, subject, f, parentField)
	} else if f = c.obj.Field(name); f == nil {
		c.add(Error, key, subject, "no such field on %s", c.obj.Name)
		return
	}
	if f.Name == "Id" {
		if op == bulk.OpInsert {
			c.add(Error, key, subject, "an insert cannot set Id")
		}
		return // the key of update and upsert
	}
	var missing []string
	if (op == bulk.OpInsert || op == bulk.OpUpsert) && !f.Createable {
		missing = append(missing, "createable")
	}
	if (op == bulk.OpUpdate || op == bulk.OpUpsert) && !f.Updateable {
		missing = append(missing, "updateable")
	}
	if len(missing) > 0 {
		c.add(Error, key, subject, "not %s for this user, and the route does %s", strings.Join(missing, " nor "), op)
	}
}

// parentField checks the parent side of a relationship column: one of the
// objects ref points to must have field as an external id (or Id).
func (c *routeCheck) parentField(ctx context.Context, key, subject string, ref *bulk.FieldDescription, field string) {
	var causes []string
	for _, target := range ref.ReferenceTo {
		parent, err := c.org.describe(ctx, target)
		switch {
		case err != nil:
			causes = append(causes, fmt.Sprintf("cannot describe %s: %v", target, err))
			continue
		case parent == nil:
			causes = append(causes, fmt.Sprintf("the org has no %s, which %s refers to", target, ref.Name))
			continue
		}
		f := parent.Field(field)
		switch {
		case f == nil:
			causes = append(causes, fmt.Sprintf("%s has no field %s", parent.Name, field))
		case !f.ExternalID && f.Name != "Id":
			causes = append(causes, fmt.Sprintf("%s.%s is not an external id; a relationship column names its parent by an external id or Id", parent.Name, f.Name))
		default:
			return
		}
	}
	if len(causes) == 0 {
		causes = []string{ref.Name + " refers to no object"}
	}
	c.add(Error, key, subject, "%s", strings.Join(causes, "; "))
}

// requiredFields warns about fields an insert must give that the route does
// not declare: records without them fail with REQUIRED_FIELD_MISSING.
func (c *routeCheck) requiredFields() {
	op := c.r.Operation
	if len(c.r.Fields) == 0 || (op != bulk.OpInsert && op != bulk.OpUpsert) {
		return
	}
	declared := func(name string) bool {
		if strings.EqualFold(name, c.r.ExternalIDField) {
			return true
		}
		for _, d := range c.r.Fields {
			if strings.EqualFold(d, name) {
				return true
			}
			if rel, _, ok := strings.Cut(d, "."); ok {
				if ref := c.obj.Relationship(rel); ref != nil && ref.Name == name {
					return true
				}
			}
		}
		return false
	}
	for _, f := range c.obj.Fields {
		if f.Required() && !declared(f.Name) {
			c.add(Warning, ".fields", c.obj.Name+"."+f.Name,
				"required on create and not declared; records that create without it fail with REQUIRED_FIELD_MISSING")
		}
	}
}

// hardDelete learns whether the user may hard-delete: Salesforce says so
// only when a hardDelete job is created. The job is empty, and aborted and
// deleted at once.
func (c *routeCheck) hardDelete(ctx context.Context) {
	job, err := c.org.sf.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: c.obj.Name, Operation: bulk.OpHardDelete})
	if e, ok := errors.AsType[*bulk.APIError](err); ok && strings.EqualFold(e.ErrorCode, "FeatureNotEnabled") {
		c.add(Error, ".operation", c.obj.Name, "hardDelete is not enabled for this user (the Bulk API Hard Delete permission): %s", e.Message)
		return
	}
	if err != nil {
		c.add(Error, ".operation", c.obj.Name, "cannot create a hardDelete job: %v", err)
		return
	}
	if _, err := c.org.sf.AbortIngestJob(ctx, job.ID); err != nil {
		c.add(Warning, ".operation", c.obj.Name, "the empty hardDelete job %s that the check made is left Open (it does nothing and goes in a day): %v", job.ID, err)
		return
	}
	if err := c.org.sf.DeleteIngestJob(ctx, job.ID); err != nil {
		c.add(Warning, ".operation", c.obj.Name, "the empty hardDelete job %s that the check made is left Aborted: %v", job.ID, err)
	}
}
