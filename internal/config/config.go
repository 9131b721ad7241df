// Package config reads Bulkstream's configuration file.
//
// A configuration is a plain struct read from strict YAML in four steps:
// Default fills in every default, ${VAR} references in values are expanded
// from the environment, the YAML is decoded over the defaults (a key the
// struct does not have is an error), and Validate checks what the types
// cannot. Every problem found is reported, each as an *Error that names the
// key by its dotted path (routes[1].operation) and, when the configuration
// came from a file, the line. config.example.yaml at the repository root
// documents every key.
package config

import (
	"log/slog"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// Config is the whole configuration. The zero value is not useful: start from
// Default, Parse or Load.
type Config struct {
	Kafka      Kafka      `yaml:"kafka"`
	Salesforce Salesforce `yaml:"salesforce"`
	// SchemaRegistry is where Avro schemas are found: routes with
	// encoding avro and no schema_file, and results.format avro.
	SchemaRegistry SchemaRegistry `yaml:"schema_registry"`
	// Routes say which topics go where. A record goes to the first route
	// whose Match accepts its topic. At least one is required.
	Routes []Route `yaml:"routes"`
	Batch  Batch   `yaml:"batch"`
	Retry  Retry   `yaml:"retry"`
	// Delivery is at_least_once (default) or exactly_once: with
	// exactly_once, each partition's results, dead-letter copies and
	// journal closing entries go in one Kafka transaction, so a
	// read_committed consumer sees every outcome once, across crashes.
	Delivery Delivery `yaml:"delivery"`
	Journal  Journal  `yaml:"journal"`
	Limits   Limits   `yaml:"limits"`
	Results  Results  `yaml:"results"`
	HTTP     HTTP     `yaml:"http"`
	Log      Log      `yaml:"log"`
	// MemoryBudget bounds what the events consumed and not yet published
	// may cost in memory: their keys, values and headers, and 512 bytes
	// each for the connector's bookkeeping. Fetching stops at the budget
	// and goes on as results are published, so memory follows this
	// setting, not the backlog. Default 64MiB (a process of about 150 MiB
	// resident at full speed; see the README's performance section).
	MemoryBudget Size `yaml:"memory_budget"`
	// ShutdownGrace is how long a stopping connector may take to finish
	// the jobs in flight and commit their offsets before it exits anyway;
	// unfinished work is then redone after the restart. Default 30s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Check says what the check that `connector run` makes on start does
	// with the problems it finds (unknown objects and fields, fields the
	// user may not write, missing topics): CheckError refuses to start,
	// CheckWarn logs them and starts. Default CheckError.
	Check CheckMode `yaml:"check"`

	file  string         // the name given to Parse, for messages
	lines map[string]int // dotted key path → its line in file
}

// Kafka is where change events are consumed from and results produced to.
type Kafka struct {
	// Brokers are the seed brokers, each host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group id; offsets are committed under it.
	// Required: two deployments sharing a group by accident would split
	// the partitions between them.
	Group string `yaml:"group"`
	// ClientID names the client in broker logs and quotas. Default
	// "bulkstream".
	ClientID string `yaml:"client_id"`
	TLS      TLS    `yaml:"tls"`
	SASL     SASL   `yaml:"sasl"`
	// FetchMaxBytes bounds the data one fetch response may carry, over
	// all partitions, as the broker stores it (compressed). Default 8MiB;
	// at most 2GiB-1, the largest value the protocol's int32 holds. The
	// client holds one response a broker besides memory_budget, and
	// decompressed: its size times the topic's compression ratio.
	FetchMaxBytes Size `yaml:"fetch_max_bytes"`
	// FetchMaxPartitionBytes bounds one partition's share of a fetch
	// response, compressed (Kafka's max.partition.fetch.bytes). Default
	// 256KiB; a record batch larger than it still comes, alone.
	FetchMaxPartitionBytes Size `yaml:"fetch_max_partition_bytes"`
	// SessionTimeout is how long the group coordinator waits for a
	// heartbeat before it gives this member's partitions to others.
	// Default 45s. The broker bounds it (group.min/max.session.timeout.ms).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// RebalanceTimeout is how long a rebalance waits for members to
	// rejoin; revoking partitions waits for in-flight jobs, so it should
	// exceed a typical job's duration. Default 60s.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// StartOffset is where a partition without a committed offset starts.
	// Default StartEarliest.
	StartOffset StartOffset `yaml:"start_offset"`
	// InstanceID makes this instance a static member of the group
	// (group.instance.id): after a restart it takes its partitions back at
	// once instead of waiting out the session timeout. It must be unique
	// per instance, such as the pod name. Default "" (a dynamic member).
	InstanceID string `yaml:"instance_id"`
}

// TLS encrypts the connections to the brokers.
type TLS struct {
	// Enabled turns TLS on; the other fields are errors without it.
	// Default false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the CAs that sign the brokers' certificates.
	// Empty means the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the PEM client certificate and key for
	// mutual TLS; set both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify accepts any broker certificate. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name checked against the broker
	// certificates. Empty means the host of each broker address.
	ServerName string `yaml:"server_name"`
}

// SASL authenticates to the brokers.
type SASL struct {
	// Mechanism is one of the SASL* constants; empty means no SASL.
	Mechanism SASLMechanism `yaml:"mechanism"`
	// Username and Password are required by plain and the scram
	// mechanisms, and errors with the others.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// OAuth is where SASLOAuthBearer gets its tokens; required by it and
	// an error with the others.
	OAuth SASLOAuth `yaml:"oauth"`
}

// SASLOAuth is an OAuth 2.0 client credentials grant (RFC 6749 §4.4) whose
// access token is the OAUTHBEARER token (RFC 7628), as Confluent Cloud,
// Azure Event Hubs, Redpanda Cloud and Kafka's own OAUTHBEARER support
// take it. A token is fetched on the first connection and again once 80% of
// its lifetime (expires_in) has passed, before it expires; brokers that set
// a session lifetime make each connection authenticate again with the new
// token, without dropping it.
type SASLOAuth struct {
	// TokenURL is the identity provider's token endpoint: https, or http
	// to a loopback address. Required.
	TokenURL string `yaml:"token_url"`
	// ClientID and ClientSecret identify the client; both required. They
	// are sent as HTTP basic authentication, or in the form if the
	// endpoint refuses that.
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
	// Scopes are requested with the token (Azure Event Hubs:
	// https://NAMESPACE.servicebus.windows.net/.default). Default none.
	Scopes []string `yaml:"scopes"`
	// Extensions are SASL extensions sent with the token (Confluent Cloud:
	// logicalCluster and identityPoolId). Default none.
	Extensions map[string]string `yaml:"extensions"`
}

// SASLMechanism names a SASL mechanism.
type SASLMechanism string

// The SASL mechanisms Bulkstream speaks (franz-go's pkg/sasl).
const (
	SASLPlain       SASLMechanism = "plain"
	SASLScramSHA256 SASLMechanism = "scram-sha-256"
	SASLScramSHA512 SASLMechanism = "scram-sha-512"
	// SASLOAuthBearer is OAUTHBEARER with tokens of SASL.OAuth.
	SASLOAuthBearer SASLMechanism = "oauthbearer"
	// SASLAWSMSKIAM is AWS_MSK_IAM, Amazon MSK's IAM access control. It
	// has no settings: credentials come from the standard AWS chain, in
	// its order: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
	// AWS_SESSION_TOKEN); a web identity (AWS_ROLE_ARN and
	// AWS_WEB_IDENTITY_TOKEN_FILE, as EKS IAM roles for service accounts
	// set them); the shared credentials file (AWS_SHARED_CREDENTIALS_FILE
	// or ~/.aws/credentials, profile AWS_PROFILE or "default"); the
	// container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI
	// or _RELATIVE_URI, as ECS and EKS Pod Identity set them); the EC2
	// instance metadata service. The region that signs is the one in the
	// broker's host name (b-1.c.abc123.c2.kafka.eu-west-1.amazonaws.com),
	// else AWS_REGION or AWS_DEFAULT_REGION.
	SASLAWSMSKIAM SASLMechanism = "aws_msk_iam"
)

// StartOffset is where a partition without a committed offset starts.
type StartOffset string

// Start offsets.
const (
	StartEarliest StartOffset = "earliest" // the oldest record still retained
	StartLatest   StartOffset = "latest"   // records produced from now on
)

// Salesforce is the org that receives the records.
type Salesforce struct {
	// LoginURL is where the OAuth token endpoint is
	// ({LoginURL}/services/oauth2/token): the org's My Domain URL, such as
	// https://acme.my.salesforce.com (the client credentials flow needs
	// it), or https://login.salesforce.com / https://test.salesforce.com
	// for the JWT bearer and refresh token flows. Required except with
	// FlowAccessToken; https, or http to a loopback address (the local
	// emulator).
	LoginURL string `yaml:"login_url"`
	// InstanceURL overrides the instance_url of the token response, which
	// is where API requests go. Optional, except with FlowAccessToken,
	// which has no token response.
	InstanceURL string `yaml:"instance_url"`
	// APIVersion is written like "62.0". Default bulk.DefaultAPIVersion.
	APIVersion string `yaml:"api_version"`
	Auth       Auth   `yaml:"auth"`
	// Timeout bounds each HTTP request, uploads included. Default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// PollInterval is the first pause between looks at a running job;
	// the pause then grows up to PollMaxInterval. Defaults 500ms and 10s.
	PollInterval    time.Duration `yaml:"poll_interval"`
	PollMaxInterval time.Duration `yaml:"poll_max_interval"`
}

// Auth says how the connector gets its access token. Which keys a flow
// needs is said at each; a key the flow does not use is an error, so that a
// half-changed configuration does not pass for another flow. Tokens are
// reused until Salesforce refuses one (401 INVALID_SESSION_ID), then
// fetched again through the flow, and never logged.
type Auth struct {
	// Flow is the OAuth flow. Default FlowClientCredentials.
	Flow AuthFlow `yaml:"flow"`
	// ClientID is the connected app's consumer key. Required by every
	// flow but FlowAccessToken; the iss claim of FlowJWTBearer.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the connected app's consumer secret. Required by
	// FlowClientCredentials, optional for FlowRefreshToken, unused by the
	// others.
	ClientSecret Secret `yaml:"client_secret"`
	// Username is the Salesforce user FlowJWTBearer acts as (the sub
	// claim), pre-authorised for the app. Required by that flow only.
	Username string `yaml:"username"`
	// PrivateKeyFile is a PEM file of the RSA private key (PKCS#1 or
	// PKCS#8, unencrypted) that signs FlowJWTBearer's assertions; the
	// app holds its certificate. PrivateKey is the same PEM as text, for
	// a ${VAR} from a secret store. FlowJWTBearer needs exactly one.
	PrivateKeyFile string `yaml:"private_key_file"`
	PrivateKey     Secret `yaml:"private_key"`
	// Audience is FlowJWTBearer's aud claim. Default: LoginURL. Salesforce
	// documents https://login.salesforce.com, https://test.salesforce.com
	// (sandboxes) or an Experience Cloud site URL.
	Audience string `yaml:"audience"`
	// RefreshToken is the refresh token of an earlier authorization of the
	// app. Required by FlowRefreshToken only.
	RefreshToken Secret `yaml:"refresh_token"`
	// AccessToken is a session id used as it is, with
	// Salesforce.InstanceURL. Required by FlowAccessToken only. It cannot
	// be renewed: once Salesforce refuses it, every request fails.
	AccessToken Secret `yaml:"access_token"`
}

// AuthFlow names an OAuth flow.
type AuthFlow string

// The flows the connector can log in with.
const (
	// FlowClientCredentials is the OAuth 2.0 client credentials flow,
	// which Salesforce serves only on the org's My Domain URL.
	FlowClientCredentials AuthFlow = "client_credentials"
	// FlowJWTBearer is the OAuth 2.0 JWT bearer flow: assertions signed
	// with the app's private key, on behalf of a pre-authorised user.
	FlowJWTBearer AuthFlow = "jwt_bearer"
	// FlowRefreshToken is the OAuth 2.0 refresh token flow.
	FlowRefreshToken AuthFlow = "refresh_token"
	// FlowAccessToken uses a given access token and instance URL, with no
	// OAuth request: for tests and one-off runs.
	FlowAccessToken AuthFlow = "access_token"
)

// Route sends the records of some topics to Salesforce.
type Route struct {
	// Name identifies the route in logs and metrics. Optional; letters,
	// digits, '.', '_' and '-', unique among routes.
	Name string `yaml:"name"`
	// Topics lists the topics the route takes. Set Topics or TopicRegex,
	// not both.
	Topics []string `yaml:"topics"`
	// TopicRegex is an RE2 expression that must match a whole topic name,
	// as in Kafka's pattern subscriptions: "crm\..*" takes crm.accounts
	// but not old.crm.accounts.
	TopicRegex string `yaml:"topic_regex"`
	// Format is how record values are read. Default FormatEnvelope.
	Format Format `yaml:"format"`
	// Object is the target sObject, such as Account. Required for
	// FormatJSON and the Debezium formats; the default for envelopes that do not
	// name one; for FormatSalesforceCDC, instead of the event's entityName.
	Object string `yaml:"object"`
	// Operation is insert, update, upsert, delete or hardDelete. Required
	// for FormatJSON; the default for envelopes that do not name one. For
	// FormatDebezium, what create, read and update events become: upsert
	// (when empty), insert or update; FormatSalesforceCDC only upserts.
	Operation bulk.Operation `yaml:"operation"`
	// ExternalIDField is the field upserts match on. Required for
	// FormatJSON and FormatDebezium with OpUpsert, and for
	// FormatSalesforceCDC; the default for envelopes.
	ExternalIDField string `yaml:"external_id_field"`
	// Fields declares the fields the route writes, so that `connector
	// check` (and the check `connector run` makes on start) can find
	// fields the object lacks or the user may not write before any data
	// moves; events' fields are otherwise known only from the data.
	// Relationship columns are written Parent.Field, such as
	// Account.External_Id__c. Optional; needs Object. Records are not
	// held to the list.
	Fields []string `yaml:"fields"`

	// Encoding is how record values are written: EncodingJSON (the
	// default, also when empty) or EncodingAvro. Avro values are in the Confluent wire format, their
	// schemas in SchemaRegistry, unless SchemaFile is set.
	Encoding Encoding `yaml:"encoding"`
	// SchemaFile is an Avro schema (.avsc) that every record value of the
	// route is written with, as plain Avro binary without the wire-format
	// header. Only with EncodingAvro.
	SchemaFile string `yaml:"schema_file"`
	// KeyField is, for FormatDebezium and FormatDebeziumUnwrapped, the
	// source column whose value is the external id: it is sent as
	// ExternalIDField, and names the record of a tombstone in the record
	// key. Required with upsert, which is their operation when none is
	// given.
	KeyField string `yaml:"key_field"`
	// Tombstones is what a tombstone (a record whose value is null)
	// becomes: TombstonesSkip (a skipped result, no write),
	// TombstonesDelete (a delete by ExternalIDField, whose value is the
	// record key: the key's KeyField column for the Debezium formats, the
	// key itself or its ExternalIDField member for json and envelope) or
	// TombstonesFail (a failure result). Default skip for FormatDebezium
	// (its delete event did the delete); delete for FormatDebeziumUnwrapped
	// with a KeyField and for FormatJSON with an ExternalIDField; fail
	// otherwise.
	Tombstones Tombstones `yaml:"tombstones"`
	// Mapping renames, includes, excludes and adds fields, and says how to
	// read ambiguous ones, for every format.
	Mapping Mapping `yaml:"mapping"`

	re *regexp.Regexp // TopicRegex anchored and compiled, set by Validate
}

// CheckMode says whether problems found on start stop the connector.
type CheckMode string

// Check modes.
const (
	CheckError CheckMode = "error" // problems are errors: do not start
	CheckWarn  CheckMode = "warn"  // problems are logged as warnings
)

// Format is how a route reads record values.
type Format string

// Formats.
const (
	// FormatEnvelope values carry their own object, operation and fields;
	// the route's Object, Operation and ExternalIDField are defaults.
	FormatEnvelope Format = "envelope"
	// FormatJSON values are JSON objects of field values, all sent to the
	// route's Object with its Operation.
	FormatJSON Format = "json"
	// FormatDebezium values are Debezium change events: c, r and u send
	// the after row with the route's Operation (upsert, insert or update),
	// d deletes. Object is required.
	FormatDebezium Format = "debezium"
	// FormatDebeziumUnwrapped values are rows of Debezium change events
	// unwrapped by its ExtractNewRecordState transformation: a row is sent
	// with the route's Operation, a row with __deleted "true" or __op d is
	// deleted, and tombstones delete by key. Object is required.
	FormatDebeziumUnwrapped Format = "debezium_unwrapped"
	// FormatSalesforceCDC values are Salesforce Change Data Capture
	// events, upserted on ExternalIDField (required), which holds the
	// source org's record Id.
	FormatSalesforceCDC Format = "salesforce_cdc"
)

// Match reports whether r takes records of topic: topic is one of Topics,
// or TopicRegex matches all of it. An invalid TopicRegex matches nothing.
func (r Route) Match(topic string) bool {
	if r.TopicRegex == "" {
		return slices.Contains(r.Topics, topic)
	}
	re := r.re
	if re == nil { // a Route that Validate has not seen
		var err error
		if re, err = compileTopicRegex(r.TopicRegex); err != nil {
			return false
		}
	}
	return re.MatchString(topic)
}

func compileTopicRegex(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// Route returns the first route that takes topic, or nil if none does.
func (c *Config) Route(topic string) *Route {
	for i := range c.Routes {
		if c.Routes[i].Match(topic) {
			return &c.Routes[i]
		}
	}
	return nil
}

// Batch bounds a Bulk API job. A job is closed when the first of MaxBytes,
// MaxRecords and MaxAge is reached.
type Batch struct {
	// MaxBytes bounds a job's CSV. Default and maximum MaxUploadBytes.
	MaxBytes Size `yaml:"max_bytes"`
	// MaxRecords bounds a job's rows. Default 150,000; at most
	// MaxJobRecords.
	MaxRecords int `yaml:"max_records"`
	// MaxAge is how long the first record of a job waits for others.
	// Default 5s.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxJobsInFlight bounds the jobs uploaded and not yet finished;
	// consumption pauses at the bound. Default 8.
	MaxJobsInFlight int `yaml:"max_jobs_in_flight"`
	// SpillThreshold is the size above which a job's buffer moves from
	// memory to a file in SpillDir. A threshold at or above MaxBytes keeps
	// every buffer in memory. Default 8MiB.
	SpillThreshold Size `yaml:"spill_threshold"`
	// SpillDir is where spilled buffers go. Default os.TempDir().
	SpillDir string `yaml:"spill_dir"`
	// ParentOrder sorts each job's rows by their parent reference columns
	// (AccountId, Account.External_Id__c, ...), so that children of one
	// parent land in one internal batch of Salesforce and do not fight for
	// the parent's lock. Default true.
	ParentOrder bool `yaml:"parent_order"`
	// IDCacheSize bounds the Salesforce Ids whose external id the connector
	// remembers (from upsert and insert results), so that a change by Id
	// waits for an earlier change by external id of the same record.
	// Default 100000; about 180 bytes each (210 while as many new Ids wait
	// to be put in).
	IDCacheSize int `yaml:"id_cache_size"`
}

// Delivery is the results' guarantee.
type Delivery string

// The delivery guarantees.
const (
	AtLeastOnce Delivery = "at_least_once"
	ExactlyOnce Delivery = "exactly_once"
)

// Journal is the job journal: a compacted topic recording which events each
// Bulk API job covers, so that after a crash or a rebalance the new owner
// of a partition re-attaches to running jobs instead of loading their rows
// again (no duplicate inserts) and does not report published events again.
type Journal struct {
	// Topic of the journal, created (compacted, one partition) on start.
	// Default "bulkstream.journal"; "" turns the journal off, which
	// exactly_once does not allow.
	Topic string `yaml:"topic"`
	// OffsetForm is how entries write their offsets: OffsetsCompact (the
	// default) writes a set of many events apart in a compact form when
	// that is smaller; OffsetsPairs always as [first, last] pairs, which
	// versions before the compact form read too. Set it to pairs for a
	// rolling upgrade from such a version (until every instance runs this
	// one), and before a rollback to one (once every instance writes
	// pairs and the jobs started before have ended, a rollback loads
	// nothing twice).
	OffsetForm OffsetForm `yaml:"offset_form"`
}

// OffsetForm is journal.offset_form.
type OffsetForm string

// The values of journal.offset_form.
const (
	OffsetsCompact OffsetForm = "compact"
	OffsetsPairs   OffsetForm = "pairs"
)

// Retry says how rows and jobs that failed for a retryable reason are tried
// again: lock contention (UNABLE_TO_LOCK_ROW), rows Salesforce left
// unprocessed, transient server errors, and jobs failed as a whole.
type Retry struct {
	// MaxAttempts bounds the jobs one row goes through; after the last, its
	// error is its result. Default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff is the first pause before a retry; pauses double up to
	// MaxBackoff, with jitter. Defaults 1s and 1m.
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// ParentWait is how long, from its job's start, a row that failed
	// because its parent is not in Salesforce (INVALID_CROSS_REFERENCE_KEY,
	// INVALID_FIELD "Foreign key external ID: … not found") is tried again
	// before that failure is its result: the parent may still be on its way
	// on another topic. Its offset stays uncommitted meanwhile. Default 2m;
	// 0 turns it off.
	ParentWait time.Duration `yaml:"parent_wait"`
}

// Limits of Bulk API 2.0 that bound Batch.
const (
	// MaxUploadBytes is the most CSV one upload takes: Salesforce accepts
	// 150 MB after base64 encoding and advises at most 100 MB before it.
	MaxUploadBytes = 100 * MiB
	// MaxJobRecords is the org's daily Bulk API record allowance, which no
	// single job can exceed.
	MaxJobRecords = 150_000_000
)

// DefaultMaxRecordBytes is the default results.max_record_bytes: Kafka's
// default max.message.bytes (1048588) less the 1 KiB a record batch of one
// record may take beyond the record (pipeline.RecordOverhead), so that
// topics created for it get Kafka's default. It equals
// pipeline.DefaultMaxRecordBytes (a test holds them equal): config does not
// import pipeline, so that deploy/validate, which builds config, needs
// neither franz-go nor the pipeline.
const DefaultMaxRecordBytes = 1048588 - KiB

// Results are the topics that say what happened to each record. Missing
// topics are created with Partitions and ReplicationFactor.
type Results struct {
	// SuccessTopic gets a result for each record Salesforce accepted.
	// Default "bulkstream.success".
	SuccessTopic string `yaml:"success_topic"`
	// FailureTopic gets a result for each record Salesforce refused.
	// Default "bulkstream.failure".
	FailureTopic string `yaml:"failure_topic"`
	// DeadLetterTopic gets each refused record itself, ready to replay.
	// Default "bulkstream.dlq".
	DeadLetterTopic string `yaml:"dead_letter_topic"`
	// Partitions of a created topic; -1 means the broker's
	// num.partitions. Default 3.
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of a created topic; -1 means the broker's
	// default.replication.factor (Kafka 2.4 and later). Default -1.
	ReplicationFactor int `yaml:"replication_factor"`
	// MaxRecordBytes bounds each record the connector produces on these
	// topics: key, value and headers (each header counted with 10 bytes
	// for its length prefixes). Default 1047564 bytes: Kafka's default
	// max.message.bytes (1048588) less 1 KiB of batch overhead
	// (pipeline.RecordOverhead); from 16KiB to 64MiB. A dead-letter copy
	// that would be larger has its value cut to fit, or keeps only a
	// reference to its source record, with headers that say so; error
	// messages are cut at 8 KiB. Topics are created with max.message.bytes
	// = MaxRecordBytes + 1 KiB; a topic that refuses a record all the same
	// gets its reference (a warning is logged).
	MaxRecordBytes Size `yaml:"max_record_bytes"`
	// Format is how result records are written: ResultsJSON (default), or
	// ResultsAvro: schemas/result.avsc in the Confluent wire format,
	// registered in SchemaRegistry under {topic}-value.
	Format ResultsFormat `yaml:"format"`
}

// HTTP is the operator's endpoint: /metrics, /healthz and /readyz.
type HTTP struct {
	// Listen is the host:port to serve on; empty disables the endpoint.
	// Default "127.0.0.1:9464".
	Listen string `yaml:"listen"`
	// ConsoleToken, when set, allows replays from the console
	// (Authorization: Bearer TOKEN). Default none: the console only reads.
	ConsoleToken Secret `yaml:"console_token"`
}

// Log says what the connector logs and how.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json (slog's handlers). Default text.
	Format string `yaml:"format"`
}

// SlogLevel returns Level as a slog.Level; an unknown level is info.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Secret is a string that fmt prints as "<redacted>", so that logging a
// Config does not leak passwords. Convert it with string(s) to use it.
type Secret string

// String returns "<redacted>", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// Default returns a Config with every default filled in and no routes. It
// does not pass Validate: brokers, group, login URL, credentials and routes
// have no defaults.
func Default() *Config {
	return &Config{
		Kafka: Kafka{
			ClientID:               "bulkstream",
			FetchMaxBytes:          8 * MiB,
			FetchMaxPartitionBytes: 256 * KiB,
			SessionTimeout:         45 * time.Second,
			RebalanceTimeout:       60 * time.Second,
			StartOffset:            StartEarliest,
		},
		Salesforce: Salesforce{
			APIVersion:      bulk.DefaultAPIVersion,
			Auth:            Auth{Flow: FlowClientCredentials},
			Timeout:         60 * time.Second,
			PollInterval:    500 * time.Millisecond,
			PollMaxInterval: 10 * time.Second,
		},
		SchemaRegistry: SchemaRegistry{Timeout: 10 * time.Second},
		Batch: Batch{
			MaxBytes:        MaxUploadBytes,
			MaxRecords:      150_000,
			MaxAge:          5 * time.Second,
			MaxJobsInFlight: 8,
			SpillThreshold:  8 * MiB,
			SpillDir:        os.TempDir(),
			ParentOrder:     true,
			IDCacheSize:     100_000,
		},
		Results: Results{
			SuccessTopic:      "bulkstream.success",
			FailureTopic:      "bulkstream.failure",
			DeadLetterTopic:   "bulkstream.dlq",
			Partitions:        3,
			ReplicationFactor: -1,
			MaxRecordBytes:    DefaultMaxRecordBytes,
			Format:            ResultsJSON,
		},
		Retry:         Retry{MaxAttempts: 5, Backoff: time.Second, MaxBackoff: time.Minute, ParentWait: 2 * time.Minute},
		Delivery:      AtLeastOnce,
		Journal:       Journal{Topic: "bulkstream.journal", OffsetForm: OffsetsCompact},
		Limits:        Limits{APIRequestReserve: Reserve{Ratio: 0.1}, RecordLimit: 150_000_000, PollInterval: time.Minute},
		HTTP:          HTTP{Listen: "127.0.0.1:9464"},
		Log:           Log{Level: "info", Format: "text"},
		ShutdownGrace: 30 * time.Second,
		MemoryBudget:  64 * MiB,
		Check:         CheckError,
	}
}

// routeDefaults fills in what each route leaves out. Routes are a list, so
// decoding over Default cannot give their elements defaults.
func (c *Config) routeDefaults() {
	for i := range c.Routes {
		if c.Routes[i].Format == "" {
			c.Routes[i].Format = FormatEnvelope
		}
	}
}
