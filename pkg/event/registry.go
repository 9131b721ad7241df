package event

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// Registry is a client of a Confluent Schema Registry (or a compatible
// one: Redpanda, Apicurio's ccompat API, Karapace), over franz-go's pkg/sr:
// it fetches Avro schemas by id (GET /schemas/ids/{id}) and registers them
// under a subject (POST /subjects/{subject}/versions). Schemas and ids are
// cached for the life of the Registry: an id never changes its schema. It
// is safe for concurrent use.
//
// As an AvroSchemas, it reads values in the Confluent wire format: a zero
// magic byte, the schema id as four big-endian bytes, then Avro binary. A
// schema is fetched with one request, never retried or waited for inside
// a Decode: a registry that cannot answer is a *RegistryError for which
// IsRegistryUnavailable is true, and the caller decides when to try again
// (the pipeline pauses the partition); a schema id the registry does not
// have is a *RegistryError that is not (HTTP 404, error_code 40403).
type Registry struct {
	// client makes one attempt per call: pkg/sr retries nothing itself
	// (it moves to the next of its URLs on a transport error, and it is
	// given one), and returns a refusal as an *sr.ResponseError.
	client   *sr.Client
	retryFor time.Duration

	mu      sync.Mutex
	schemas map[int]*avroSchema
	ids     map[string]int // subject + "\x00" + schema text → id
}

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// URL is the registry's base URL, such as http://127.0.0.1:8081.
	// Required.
	URL string
	// Username and Password are sent with basic auth when Username is set.
	Username, Password string
	// HTTPClient makes the requests; set its Transport for TLS. Default a
	// client with a 10s timeout.
	HTTPClient *http.Client
	// RetryFor is how long Register repeats a request that fails for a
	// transient reason (no response, 5xx, 429), with back-off from 100ms to
	// 5s, before its error is returned. Default 30s. Fetching a schema to
	// decode a record is never repeated (see Registry).
	RetryFor time.Duration
}

// NewRegistry returns a client of the registry at o.URL.
func NewRegistry(o RegistryOptions) (*Registry, error) {
	// Checked here, not left to pkg/sr, which would take "localhost:8081"
	// for http://localhost:8081.
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("schema registry url %q: want http:// or https:// and a host", o.URL)
	}
	httpClient := o.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second}
	}
	// pkg/sr reads a whole answer into memory: bound it.
	bounded := *httpClient
	bounded.Transport = boundedTransport{httpClient.Transport}
	opts := []sr.ClientOpt{sr.URLs(o.URL), sr.HTTPClient(&bounded)}
	if o.Username != "" {
		opts = append(opts, sr.BasicAuth(o.Username, o.Password))
	}
	client, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	r := &Registry{client: client, retryFor: o.RetryFor, schemas: map[int]*avroSchema{}, ids: map[string]int{}}
	if r.retryFor <= 0 {
		r.retryFor = 30 * time.Second
	}
	return r, nil
}

// RegistryError is a request to the schema registry that failed.
type RegistryError struct {
	Op     string // what was asked, e.g. "get schema id 7"
	Status int    // the HTTP status of a refusal; 0 if no response came, or a success could not be read
	Code   int    // the registry's error_code, such as 40403 (schema not found)
	// Message is the registry's message, or the transport's error.
	Message string
	// Retriable is true for failures that may pass: no response, a 5xx or
	// a 429. Register has retried them for RegistryOptions.RetryFor
	// already; a schema fetched to decode a record has been asked for once.
	Retriable bool
}

// Registry error codes that Bulkstream tells apart.
const (
	// RegistrySchemaNotFound is the registry's error_code for a schema id
	// it does not have.
	RegistrySchemaNotFound = 40403
)

// IsRegistryUnavailable reports whether err (or an error it wraps) is a
// schema registry failure that may pass if the request is made again
// later: no response (connection refused, a timeout), a 5xx or a 429. The
// record that needed the schema is not at fault and should wait, not
// fail. A schema id the registry does not have, refused credentials and
// any other 4xx are not unavailability: retrying cannot help.
func IsRegistryUnavailable(err error) bool {
	re, ok := errors.AsType[*RegistryError](err)
	return ok && re.Retriable
}

func (e *RegistryError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("schema registry: %s: %s", e.Op, e.Message)
	}
	return fmt.Sprintf("schema registry: %s: %d %s (error_code %d)", e.Op, e.Status, e.Message, e.Code)
}

// wireHeaderSize is the size of the Confluent wire format header.
const wireHeaderSize = 5

// AppendWireHeader appends the Confluent wire format header of schema id to
// dst: the magic byte 0 and the id in four big-endian bytes.
func AppendWireHeader(dst []byte, id int) []byte {
	return binary.BigEndian.AppendUint32(append(dst, 0), uint32(id))
}

func (r *Registry) writerSchema(value []byte) (*avroSchema, []byte, error) {
	const notWire = "record value is not in the Confluent wire format (magic byte 0, schema id, Avro): "
	switch {
	case len(value) < wireHeaderSize:
		return nil, nil, decodeErrorf(notWire+"it is %d bytes, shorter than the 5-byte header", len(value))
	case value[0] != 0:
		return nil, nil, decodeErrorf(notWire+"its first byte is 0x%02x, not 0", value[0])
	}
	id := int(binary.BigEndian.Uint32(value[1:wireHeaderSize]))
	s, err := r.avro(id)
	if err != nil {
		return nil, nil, err
	}
	return s, value[wireHeaderSize:], nil
}

// avro returns the compiled Avro schema of id, fetching it once.
func (r *Registry) avro(id int) (*avroSchema, error) {
	r.mu.Lock()
	s := r.schemas[id]
	r.mu.Unlock()
	if s != nil {
		return s, nil
	}
	// One request: an outage is the caller's to wait out (see Registry).
	schema, err := r.client.SchemaByID(context.Background(), id)
	if err != nil {
		re := registryError(fmt.Sprintf("get schema id %d", id), err)
		if re.Status == http.StatusNotFound {
			// The id is unknown (40403), or the path is: either way not
			// something time mends. Kept a *RegistryError, so that the
			// failure names the registry (BULKSTREAM_SCHEMA_REGISTRY), not
			// the record.
			re.Message = fmt.Sprintf("schema id %d is not in the schema registry: %s", id, re.Message)
		}
		return nil, re
	}
	switch {
	case schema.Type != sr.TypeAvro:
		return nil, decodeErrorf("schema id %d is a %s schema; the route reads Avro", id, schema.Type)
	case len(schema.References) > 0:
		return nil, decodeErrorf("schema id %d refers to other schemas (references), which Bulkstream does not resolve yet", id)
	}
	if s, err = compileAvro(id, schema.Schema); err != nil {
		return nil, decodeErrorf("schema id %d is not an Avro schema Bulkstream can read: %v", id, err)
	}
	r.mu.Lock()
	r.schemas[id] = s
	r.mu.Unlock()
	return s, nil
}

// Register registers the Avro schema (its JSON text) under subject, such
// as "bulkstream.success-value", and returns its id. Registering a schema
// the subject already has returns the existing id; the registry rejects a
// schema that its compatibility rules refuse (409). Ids are cached, so a
// schema is registered once per Registry. A transient failure is repeated
// for RegistryOptions.RetryFor.
func (r *Registry) Register(subject, schema string) (int, error) {
	key := subject + "\x00" + schema
	r.mu.Lock()
	id, ok := r.ids[key]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	op := "register a schema under subject " + subject
	deadline := time.Now().Add(r.retryFor)
	pause := 100 * time.Millisecond
	for {
		// RegisterSchema, not CreateSchema: the id is all we need, and
		// CreateSchema asks a second time for the schema's usages.
		id, err := r.client.RegisterSchema(context.Background(), subject, sr.Schema{Schema: schema}, -1, -1)
		if err == nil {
			r.mu.Lock()
			r.ids[key] = id
			r.mu.Unlock()
			return id, nil
		}
		re := registryError(op, err)
		if !re.Retriable || time.Now().Add(pause).After(deadline) {
			return 0, re
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Second)
	}
}

// registryError classifies an error of pkg/sr. A status other than 2xx is
// an *sr.ResponseError, which may pass if it is a 5xx or a 429. Any other
// error came with no answer or a cut-off one, which may pass: the
// transport's *url.Error, or reading the body timed out or broke off (a
// net.Error, io.ErrUnexpectedEOF); or it is a success whose body is not
// what the API documents (not JSON, a schemaType pkg/sr does not know),
// which will not. pkg/sr wraps both kinds with fmt.Errorf, so they are
// told apart by type.
func registryError(op string, err error) *RegistryError {
	if re, ok := errors.AsType[*sr.ResponseError](err); ok {
		message := re.Message // the registry's, or pkg/sr's "no response" for an empty body
		if message == "" {
			message = string(re.Raw)
		}
		return &RegistryError{Op: op, Status: re.StatusCode, Code: re.ErrorCode, Message: message,
			Retriable: re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests}
	}
	if ne, ok := errors.AsType[net.Error](err); ok {
		return &RegistryError{Op: op, Message: ne.Error(), Retriable: true}
	}
	if errors.Is(err, errAnswerTooLarge) {
		return &RegistryError{Op: op, Message: errAnswerTooLarge.Error()}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &RegistryError{Op: op, Message: err.Error(), Retriable: true}
	}
	return &RegistryError{Op: op, Message: "the answer is not the JSON expected: " + err.Error()}
}

// maxRegistryAnswer bounds the body of an answer of the registry, which
// pkg/sr reads whole: a schema is a few KiB, and 16 MiB is far above any
// that Bulkstream could decode with.
const maxRegistryAnswer = 16 << 20

var errAnswerTooLarge = fmt.Errorf("the answer is larger than %d MiB", maxRegistryAnswer>>20)

// boundedTransport cuts answers off at maxRegistryAnswer with
// errAnswerTooLarge, so that a registry (or what answers in its place)
// cannot make the connector read an endless body into memory.
type boundedTransport struct{ next http.RoundTripper }

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: maxRegistryAnswer}
	return resp, nil
}

type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errAnswerTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // a byte past the bound tells a body of the bound from a larger one
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, errAnswerTooLarge
	}
	return n, err
}
