package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// Error is one problem with a configuration.
type Error struct {
	File string // the name given to Parse; empty for a Config built in code
	Line int    // 1-based; for a missing key, the line of the mapping that lacks it; 0 if unknown
	Key  string // dotted path such as routes[1].operation; empty if the problem has none
	Msg  string
}

// Error formats e as "file:line: key: message", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Validate checks what decoding cannot: required keys, allowed values,
// ranges and how keys go together. It returns every problem, joined, each
// an *Error naming the key, and its line if c came from Parse or Load. It
// also compiles the routes' TopicRegex for Route.Match.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.kafka(&c.Kafka)
	v.salesforce(&c.Salesforce)
	v.schemaRegistry(&c.SchemaRegistry)
	v.routes(c.Routes)
	v.batch(&c.Batch)
	v.results(&c.Results)
	v.resultsFormat(&c.Results)
	if c.HTTP.Listen != "" {
		v.hostPort("http.listen", c.HTTP.Listen, 0)
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	v.oneOf("check", string(c.Check), string(CheckError), string(CheckWarn))
	v.positive("shutdown_grace", c.ShutdownGrace)
	if c.MemoryBudget < MiB {
		v.errorf("memory_budget", "must be at least 1MiB, got %d bytes", c.MemoryBudget)
	}
	v.oneOf("journal.offset_form", string(c.Journal.OffsetForm), string(OffsetsCompact), string(OffsetsPairs))
	switch c.Delivery {
	case AtLeastOnce:
	case ExactlyOnce:
		if c.Journal.Topic == "" {
			v.errorf("journal.topic", "exactly_once delivery needs the job journal; give it a topic")
		}
	default:
		v.errorf("delivery", "%q is not one of at_least_once, exactly_once", c.Delivery)
	}
	if c.Limits.RecordLimit <= 0 {
		v.errorf("limits.record_limit", "must be above zero, got %d", c.Limits.RecordLimit)
	}
	v.positive("limits.poll_interval", c.Limits.PollInterval)
	if c.Retry.MaxAttempts <= 0 {
		v.errorf("retry.max_attempts", "must be above zero, got %d", c.Retry.MaxAttempts)
	}
	v.positive("retry.backoff", c.Retry.Backoff)
	if c.Retry.MaxBackoff < c.Retry.Backoff {
		v.errorf("retry.max_backoff", "%s is below retry.backoff (%s)", c.Retry.MaxBackoff, c.Retry.Backoff)
	}
	if c.Retry.ParentWait < 0 {
		v.errorf("retry.parent_wait", "must not be negative (0 turns it off), got %s", c.Retry.ParentWait)
	}
	return errors.Join(v.errs...)
}

type validator struct {
	c    *Config
	errs []error
}

func (v *validator) errorf(key, format string, args ...any) {
	line := 0
	for p := key; p != "" && line == 0; p = parent(p) {
		line = v.c.lines[p]
	}
	v.errs = append(v.errs, &Error{File: v.c.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// parent returns the path one level up: kafka for kafka.tls, routes for
// routes[1], "" for kafka.
func parent(path string) string {
	return path[:max(strings.LastIndexAny(path, ".["), 0)]
}

// given reports whether the file sets key.
func (v *validator) given(key string) bool {
	_, ok := v.c.lines[key]
	return ok
}

// required reports whether value is set, and if not says so.
func (v *validator) required(key, value string) bool {
	if value != "" {
		return true
	}
	if v.given(key) {
		v.errorf(key, "must not be empty")
	} else {
		v.errorf(key, "required key is missing")
	}
	return false
}

func (v *validator) oneOf(key, value string, allowed ...string) bool {
	if slices.Contains(allowed, value) {
		return true
	}
	v.errorf(key, "%q is not one of %s", value, strings.Join(allowed, ", "))
	return false
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.errorf(key, "must be above zero, got %s", d)
	}
}

// hostPort checks a host:port address; minPort 1 forbids port 0 ("any").
func (v *validator) hostPort(key, addr string, minPort int) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(key, "%q is not host:port", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < minPort || n > 65535 {
		v.errorf(key, "%q: port %q is not a number from %d to 65535", addr, port, minPort)
	}
}

func (v *validator) kafka(k *Kafka) {
	if len(k.Brokers) == 0 {
		if v.given("kafka.brokers") {
			v.errorf("kafka.brokers", "must list at least one broker")
		} else {
			v.errorf("kafka.brokers", "required key is missing")
		}
	}
	for i, b := range k.Brokers {
		v.hostPort(fmt.Sprintf("kafka.brokers[%d]", i), b, 1)
	}
	v.required("kafka.group", k.Group)
	v.required("kafka.client_id", k.ClientID)

	t := k.TLS
	if !t.Enabled {
		for _, f := range []struct {
			key string
			set bool
		}{
			{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""},
			{"insecure_skip_verify", t.InsecureSkipVerify}, {"server_name", t.ServerName != ""},
		} {
			if f.set {
				v.errorf("kafka.tls."+f.key, "has no effect unless kafka.tls.enabled is true")
			}
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.errorf("kafka.tls.key_file", "required key is missing: cert_file needs its key")
	case t.KeyFile != "" && t.CertFile == "":
		v.errorf("kafka.tls.cert_file", "required key is missing: key_file needs its certificate")
	}

	v.sasl(&k.SASL)

	if k.FetchMaxBytes <= 0 || k.FetchMaxBytes > math.MaxInt32 {
		v.errorf("kafka.fetch_max_bytes", "must be from 1B to 2147483647B (2GiB-1), got %s", k.FetchMaxBytes)
	}
	if k.FetchMaxPartitionBytes <= 0 || k.FetchMaxPartitionBytes > math.MaxInt32 {
		v.errorf("kafka.fetch_max_partition_bytes", "must be from 1B to 2147483647B (2GiB-1), got %s", k.FetchMaxPartitionBytes)
	}
	v.positive("kafka.session_timeout", k.SessionTimeout)
	v.positive("kafka.rebalance_timeout", k.RebalanceTimeout)
	v.oneOf("kafka.start_offset", string(k.StartOffset), string(StartEarliest), string(StartLatest))
}

var apiVersionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]$`)

// sasl checks kafka.sasl: each mechanism's keys are required with it, and
// errors with the others, so that a key left over from another mechanism
// is not silently ignored.
func (v *validator) sasl(s *SASL) {
	mechanisms := []string{string(SASLPlain), string(SASLScramSHA256), string(SASLScramSHA512), string(SASLOAuthBearer), string(SASLAWSMSKIAM)}
	if s.Mechanism == "" {
		if s.Username != "" || s.Password != "" || v.given("kafka.sasl.oauth") {
			v.errorf("kafka.sasl.mechanism", "required key is missing: the other kafka.sasl keys need a mechanism (%s)", strings.Join(mechanisms, ", "))
		}
		return
	}
	if !v.oneOf("kafka.sasl.mechanism", string(s.Mechanism), mechanisms...) {
		return
	}
	userPass := s.Mechanism == SASLPlain || s.Mechanism == SASLScramSHA256 || s.Mechanism == SASLScramSHA512
	if userPass {
		v.required("kafka.sasl.username", s.Username)
		v.required("kafka.sasl.password", string(s.Password))
	} else {
		for _, key := range []string{"username", "password"} {
			if v.given("kafka.sasl." + key) {
				v.errorf("kafka.sasl."+key, "is not used by %s", s.Mechanism)
			}
		}
	}
	if s.Mechanism != SASLOAuthBearer && v.given("kafka.sasl.oauth") {
		v.errorf("kafka.sasl.oauth", "is not used by %s", s.Mechanism)
	}
	if s.Mechanism == SASLOAuthBearer {
		o := s.OAuth
		if v.required("kafka.sasl.oauth.token_url", o.TokenURL) {
			u, err := url.Parse(o.TokenURL)
			switch {
			case err != nil:
				v.errorf("kafka.sasl.oauth.token_url", "is not a URL such as https://idp.example.com/oauth2/token")
			case u.Host == "":
				// Not shown: without a host (proxy:p4ss@idp/token parses as
				// scheme proxy), Redacted finds no password to mask.
				v.errorf("kafka.sasl.oauth.token_url", "is not a URL such as https://idp.example.com/oauth2/token (it has no host)")
			case u.Scheme != "https" && u.Scheme != "http":
				v.errorf("kafka.sasl.oauth.token_url", "%q is not a URL such as https://idp.example.com/oauth2/token", u.Redacted())
			case u.Scheme == "http" && !loopback(u.Hostname()):
				v.errorf("kafka.sasl.oauth.token_url", "%q: plain http would send the client secret in the clear; use https", u.Redacted())
			}
		}
		v.required("kafka.sasl.oauth.client_id", o.ClientID)
		v.required("kafka.sasl.oauth.client_secret", string(o.ClientSecret))
		for name := range o.Extensions {
			// "auth" is the token's own key.
			if !saslExtensionKey.MatchString(name) || name == "auth" {
				v.errorf("kafka.sasl.oauth.extensions."+name, "%q is not a SASL extension name (letters only, not auth)", name)
			}
		}
	}
}

// saslExtensionKey is RFC 7628's key = 1*(ALPHA).
var saslExtensionKey = regexp.MustCompile(`^[A-Za-z]+$`)

func (v *validator) salesforce(s *Salesforce) {
	switch {
	case s.Auth.Flow == FlowAccessToken && s.LoginURL == "":
		// No token endpoint to reach.
	case v.required("salesforce.login_url", s.LoginURL):
		v.baseURL("salesforce.login_url", s.LoginURL)
	}
	if s.InstanceURL != "" {
		v.baseURL("salesforce.instance_url", s.InstanceURL)
	}
	if !apiVersionPattern.MatchString(s.APIVersion) {
		v.errorf("salesforce.api_version", "%q is not a version like %q", s.APIVersion, bulk.DefaultAPIVersion)
	}
	v.auth(s)
	v.positive("salesforce.timeout", s.Timeout)
	v.positive("salesforce.poll_interval", s.PollInterval)
	if s.PollMaxInterval < s.PollInterval {
		v.errorf("salesforce.poll_max_interval", "%s is below salesforce.poll_interval (%s)", s.PollMaxInterval, s.PollInterval)
	}
}

// authKeys are the keys of salesforce.auth that name credentials, and which
// flows use each.
var authKeys = []struct {
	key   string
	value func(*Auth) string
	flows []AuthFlow
}{
	{"client_id", func(a *Auth) string { return a.ClientID }, []AuthFlow{FlowClientCredentials, FlowJWTBearer, FlowRefreshToken}},
	{"client_secret", func(a *Auth) string { return string(a.ClientSecret) }, []AuthFlow{FlowClientCredentials, FlowRefreshToken}},
	{"username", func(a *Auth) string { return a.Username }, []AuthFlow{FlowJWTBearer}},
	{"private_key_file", func(a *Auth) string { return a.PrivateKeyFile }, []AuthFlow{FlowJWTBearer}},
	{"private_key", func(a *Auth) string { return string(a.PrivateKey) }, []AuthFlow{FlowJWTBearer}},
	{"audience", func(a *Auth) string { return a.Audience }, []AuthFlow{FlowJWTBearer}},
	{"refresh_token", func(a *Auth) string { return string(a.RefreshToken) }, []AuthFlow{FlowRefreshToken}},
	{"access_token", func(a *Auth) string { return string(a.AccessToken) }, []AuthFlow{FlowAccessToken}},
}

var authFlows = []string{string(FlowClientCredentials), string(FlowJWTBearer), string(FlowRefreshToken), string(FlowAccessToken)}

// auth checks that the flow has the credentials it needs and no others.
func (v *validator) auth(s *Salesforce) {
	a := &s.Auth
	if !v.oneOf("salesforce.auth.flow", string(a.Flow), authFlows...) {
		return
	}
	for _, k := range authKeys {
		if k.value(a) != "" && !slices.Contains(k.flows, a.Flow) {
			v.errorf("salesforce.auth."+k.key, "is not used by the %s flow", a.Flow)
		}
	}
	switch a.Flow {
	case FlowClientCredentials:
		v.required("salesforce.auth.client_id", a.ClientID)
		v.required("salesforce.auth.client_secret", string(a.ClientSecret))
		if u, err := url.Parse(s.LoginURL); err == nil && genericLoginHost(u.Hostname()) {
			v.errorf("salesforce.login_url", "%s refuses the client_credentials flow; use the org's My Domain URL, such as https://acme.my.salesforce.com", u.Hostname())
		}
	case FlowJWTBearer:
		v.required("salesforce.auth.client_id", a.ClientID)
		v.required("salesforce.auth.username", a.Username)
		switch {
		case a.PrivateKeyFile != "" && a.PrivateKey != "":
			v.errorf("salesforce.auth.private_key", "set private_key_file or private_key, not both")
		case a.PrivateKeyFile == "" && a.PrivateKey == "":
			v.errorf("salesforce.auth.private_key_file", "required key is missing: the jwt_bearer flow signs with the key of private_key_file or private_key")
		}
		if a.Audience != "" {
			if u, err := url.Parse(a.Audience); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
				v.errorf("salesforce.auth.audience", "%q is not a URL such as https://login.salesforce.com", a.Audience)
			}
		}
	case FlowRefreshToken:
		v.required("salesforce.auth.client_id", a.ClientID)
		v.required("salesforce.auth.refresh_token", string(a.RefreshToken))
	case FlowAccessToken:
		v.required("salesforce.auth.access_token", string(a.AccessToken))
		if s.InstanceURL == "" {
			v.errorf("salesforce.instance_url", "required key is missing: the access_token flow has no token response to take it from")
		}
	}
}

// genericLoginHost reports whether host is one of Salesforce's shared login
// hosts, which serve the user-facing flows but not client credentials.
func genericLoginHost(host string) bool {
	host = strings.ToLower(host)
	return host == "login.salesforce.com" || host == "test.salesforce.com"
}

// baseURL checks a Salesforce base URL: https, or http to a loopback address
// such as the local emulator, with nothing after the host.
func (v *validator) baseURL(key, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		v.errorf(key, "%q is not a URL such as https://acme.my.salesforce.com", raw)
		return
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		v.errorf(key, "%q: plain http is only for a loopback address (the local emulator); use https", raw)
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		v.errorf(key, "%q: want only scheme and host, such as https://acme.my.salesforce.com", raw)
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var (
	// sObject and field API names: Account, External_Id__c, ns__Thing__c.
	apiNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	// Kafka's legal topic names.
	topicPattern     = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	routeNamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	routeOperations  = []string{string(bulk.OpInsert), string(bulk.OpUpdate), string(bulk.OpUpsert), string(bulk.OpDelete), string(bulk.OpHardDelete)}
)

func (v *validator) routes(routes []Route) {
	if len(routes) == 0 {
		if v.given("routes") {
			v.errorf("routes", "must list at least one route")
		} else {
			v.errorf("routes", "required key is missing")
		}
		return
	}
	names := map[string]int{}
	for i := range routes {
		r := &routes[i]
		key := fmt.Sprintf("routes[%d]", i)
		if r.Name != "" {
			if !routeNamePattern.MatchString(r.Name) {
				v.errorf(key+".name", "%q: use letters, digits, '.', '_' and '-'", r.Name)
			}
			if j, dup := names[r.Name]; dup {
				v.errorf(key+".name", "%q is also the name of routes[%d]", r.Name, j)
			}
			names[r.Name] = i
		}
		v.routeTopics(key, routes[:i], r)
		v.routeTarget(key, r)
		v.routeFields(key, r)
		v.routeEncoding(key, r)
		v.mapping(key, &r.Mapping)
	}
}

// routeTopics checks which topics r takes; earlier are the routes before it,
// which take a topic first.
func (v *validator) routeTopics(key string, earlier []Route, r *Route) {
	r.re = nil
	switch {
	case len(r.Topics) > 0 && r.TopicRegex != "":
		v.errorf(key+".topic_regex", "set topics or topic_regex, not both")
		return
	case r.TopicRegex != "":
		re, err := compileTopicRegex(r.TopicRegex)
		if err != nil {
			why := err.Error()
			var se *syntax.Error
			if errors.As(err, &se) {
				why = string(se.Code) // the rest repeats the expression
			}
			v.errorf(key+".topic_regex", "%q is not a valid regular expression: %s", r.TopicRegex, why)
			return
		}
		r.re = re
		return
	case len(r.Topics) == 0 && v.given(key+".topics"):
		v.errorf(key+".topics", "must list at least one topic")
		return
	case len(r.Topics) == 0:
		v.errorf(key+".topics", "required key is missing: set topics or topic_regex")
		return
	}
	for j, t := range r.Topics {
		tkey := fmt.Sprintf("%s.topics[%d]", key, j)
		switch {
		case !validTopic(t):
			v.errorf(tkey, "%q is not a Kafka topic name (letters, digits, '.', '_' and '-', at most 249)", t)
		case slices.Contains(r.Topics[:j], t):
			v.errorf(tkey, "%q is listed twice", t)
		default:
			for i, e := range earlier {
				if e.Match(t) {
					v.errorf(tkey, "%q already goes to routes[%d]; a topic takes the first route that matches", t, i)
					break
				}
			}
		}
	}
}

func validTopic(t string) bool {
	return topicPattern.MatchString(t) && t != "." && t != ".."
}

// routeTarget checks the object and operation: required for json, optional
// defaults for envelopes, and what debezium and salesforce_cdc need.
func (v *validator) routeTarget(key string, r *Route) {
	if !v.oneOf(key+".format", string(r.Format), string(FormatEnvelope), string(FormatJSON), string(FormatDebezium), string(FormatDebeziumUnwrapped), string(FormatSalesforceCDC)) {
		return
	}
	json := r.Format == FormatJSON
	if r.Object == "" && (json || r.Format.debezium()) {
		v.errorf(key+".object", "required key is missing: a %s route needs its target object", r.Format)
	} else if r.Object != "" && !apiNamePattern.MatchString(r.Object) {
		v.errorf(key+".object", "%q is not an sObject API name such as Account or Invoice__c", r.Object)
	}
	switch r.Format {
	case FormatDebezium, FormatDebeziumUnwrapped:
		v.routeDebezium(key, r)
	case FormatSalesforceCDC:
		v.routeSalesforceCDC(key, r)
	}
	v.routeTombstones(key, r)
	if r.Operation == "" && json {
		v.errorf(key+".operation", "required key is missing: a json route needs one of %s", strings.Join(routeOperations, ", "))
	} else if r.Operation != "" && (json || r.Format == FormatEnvelope) {
		v.oneOf(key+".operation", string(r.Operation), routeOperations...)
	}
	switch {
	case r.ExternalIDField != "" && !apiNamePattern.MatchString(r.ExternalIDField):
		v.errorf(key+".external_id_field", "%q is not a field API name such as External_Id__c", r.ExternalIDField)
	case json && r.Operation == bulk.OpUpsert && r.ExternalIDField == "":
		v.errorf(key+".external_id_field", "required key is missing: upsert matches records on an external id field")
	case json && r.Operation != bulk.OpUpsert && r.Operation != bulk.OpDelete && r.Operation != bulk.OpHardDelete && r.ExternalIDField != "":
		v.errorf(key+".external_id_field", "is only used by upsert, and by delete and hardDelete by external id, and the operation is %s", r.Operation)
	}
}

// fieldPattern is a field API name or a relationship column
// (Account.External_Id__c).
var fieldPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$`)

// routeFields checks the fields a route declares for the start-up check.
func (v *validator) routeFields(key string, r *Route) {
	if len(r.Fields) == 0 {
		if v.given(key + ".fields") {
			v.errorf(key+".fields", "must list at least one field")
		}
		return
	}
	if r.Object == "" {
		v.errorf(key+".fields", "needs %s.object: the fields are checked against it", key)
	}
	for j, f := range r.Fields {
		fkey := fmt.Sprintf("%s.fields[%d]", key, j)
		switch {
		case !fieldPattern.MatchString(f):
			v.errorf(fkey, "%q is not a field API name such as Name, External_Id__c or Account.External_Id__c", f)
		case slices.ContainsFunc(r.Fields[:j], func(g string) bool { return strings.EqualFold(f, g) }):
			v.errorf(fkey, "%q is listed twice", f)
		}
	}
}

func (v *validator) batch(b *Batch) {
	switch {
	case b.MaxBytes <= 0:
		v.errorf("batch.max_bytes", "must be above zero, got %s", b.MaxBytes)
	case b.MaxBytes > MaxUploadBytes:
		v.errorf("batch.max_bytes", "%s is above %s, the most one upload accepts", b.MaxBytes, Size(MaxUploadBytes))
	}
	if b.MaxRecords <= 0 || b.MaxRecords > MaxJobRecords {
		v.errorf("batch.max_records", "must be from 1 to %d (the org's daily Bulk API record allowance), got %d", MaxJobRecords, b.MaxRecords)
	}
	v.positive("batch.max_age", b.MaxAge)
	if b.MaxJobsInFlight <= 0 {
		v.errorf("batch.max_jobs_in_flight", "must be above zero, got %d", b.MaxJobsInFlight)
	}
	if b.SpillThreshold <= 0 {
		v.errorf("batch.spill_threshold", "must be above zero, got %s; a threshold at or above max_bytes never spills", b.SpillThreshold)
	}
	v.required("batch.spill_dir", b.SpillDir)
	if b.IDCacheSize <= 0 {
		v.errorf("batch.id_cache_size", "must be above zero, got %d", b.IDCacheSize)
	}
}

func (v *validator) results(r *Results) {
	for _, t := range []struct{ key, topic string }{
		{"results.success_topic", r.SuccessTopic},
		{"results.failure_topic", r.FailureTopic},
		{"results.dead_letter_topic", r.DeadLetterTopic},
	} {
		if !v.required(t.key, t.topic) {
			continue
		}
		if !validTopic(t.topic) {
			v.errorf(t.key, "%q is not a Kafka topic name (letters, digits, '.', '_' and '-', at most 249)", t.topic)
			continue
		}
		for i, route := range v.c.Routes {
			if route.Match(t.topic) {
				v.errorf(t.key, "%q would be consumed by routes[%d], feeding results back in", t.topic, i)
			}
		}
	}
	if r.Partitions != -1 && (r.Partitions < 1 || r.Partitions > math.MaxInt32) {
		v.errorf("results.partitions", "must be -1 (the broker's default) or from 1 to %d, got %d", math.MaxInt32, r.Partitions)
	}
	if r.ReplicationFactor != -1 && (r.ReplicationFactor < 1 || r.ReplicationFactor > math.MaxInt16) {
		v.errorf("results.replication_factor", "must be -1 (the broker's default) or from 1 to %d, got %d", math.MaxInt16, r.ReplicationFactor)
	}
	// Below the minimum, a dead-letter copy's headers (an error message
	// of up to 8 KiB) leave no room for its value; above the maximum, a
	// batch would not fit franz-go's produce requests (100 MiB).
	if r.MaxRecordBytes < minRecordBytes || r.MaxRecordBytes > maxRecordBytes {
		v.errorf("results.max_record_bytes", "must be from %s to %s, got %s", minRecordBytes, maxRecordBytes, r.MaxRecordBytes)
	}
}

// The range of results.max_record_bytes.
const (
	minRecordBytes = 16 * KiB
	maxRecordBytes = 64 * MiB
)
