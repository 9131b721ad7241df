package event

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Registry is a small client of a Confluent Schema Registry (or a
// compatible one: Redpanda, Apicurio's ccompat API, Karapace): it fetches
// Avro schemas by id (GET /schemas/ids/{id}) and registers them under a
// subject (POST /subjects/{subject}/versions). Schemas and ids are cached
// for the life of the Registry: an id never changes its schema. It is safe
// for concurrent use.
//
// As an AvroSchemas, it reads values in the Confluent wire format: a zero
// magic byte, the schema id as four big-endian bytes, then Avro binary. A
// schema is fetched with one request, never retried or waited for inside
// a Decode: a registry that cannot answer is a *RegistryError for which
// IsRegistryUnavailable is true, and the caller decides when to try again
// (the pipeline pauses the partition); a schema id the registry does not
// have is a *RegistryError that is not (HTTP 404, error_code 40403).
type Registry struct {
	base     string
	client   *http.Client
	user     string
	password string
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
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("schema registry url %q: want http:// or https:// and a host", o.URL)
	}
	r := &Registry{base: strings.TrimSuffix(o.URL, "/"), client: o.HTTPClient, user: o.Username, password: o.Password,
		retryFor: o.RetryFor, schemas: map[int]*avroSchema{}, ids: map[string]int{}}
	if r.client == nil {
		r.client = &http.Client{Timeout: 10 * time.Second}
	}
	if r.retryFor <= 0 {
		r.retryFor = 30 * time.Second
	}
	return r, nil
}

// RegistryError is a request to the schema registry that failed.
type RegistryError struct {
	Op     string // what was asked, e.g. "get schema id 7"
	Status int    // the HTTP status; 0 if no response came
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
	var resp struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
		References []any  `json:"references"`
	}
	// One request: an outage is the caller's to wait out (see Registry).
	err := r.once(http.MethodGet, "/schemas/ids/"+strconv.Itoa(id), nil, &resp, fmt.Sprintf("get schema id %d", id))
	var re *RegistryError
	switch {
	case errors.As(err, &re) && re.Status == http.StatusNotFound:
		// The id is unknown (40403), or the path is: either way not
		// something time mends. Kept a *RegistryError, so that the
		// failure names the registry (BULKSTREAM_SCHEMA_REGISTRY), not
		// the record.
		re.Message = fmt.Sprintf("schema id %d is not in the schema registry: %s", id, re.Message)
		re.Retriable = false
		return nil, err
	case err != nil:
		return nil, err
	case resp.SchemaType != "" && resp.SchemaType != "AVRO":
		return nil, decodeErrorf("schema id %d is a %s schema; the route reads Avro", id, resp.SchemaType)
	case len(resp.References) > 0:
		return nil, decodeErrorf("schema id %d refers to other schemas (references), which Bulkstream does not resolve yet", id)
	}
	if s, err = compileAvro(id, resp.Schema); err != nil {
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
// schema is registered once per Registry.
func (r *Registry) Register(subject, schema string) (int, error) {
	key := subject + "\x00" + schema
	r.mu.Lock()
	id, ok := r.ids[key]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	body, err := json.Marshal(map[string]string{"schema": schema})
	if err != nil {
		return 0, err
	}
	var resp struct {
		ID int `json:"id"`
	}
	if err := r.do(http.MethodPost, "/subjects/"+url.PathEscape(subject)+"/versions", body, &resp, "register a schema under subject "+subject); err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.ids[key] = resp.ID
	r.mu.Unlock()
	return resp.ID, nil
}

// do sends a request, retrying transient failures for r.retryFor, and
// decodes the JSON response into out.
func (r *Registry) do(method, path string, body []byte, out any, op string) error {
	deadline := time.Now().Add(r.retryFor)
	pause := 100 * time.Millisecond
	for {
		err := r.once(method, path, body, out, op)
		var re *RegistryError
		if err == nil || !errors.As(err, &re) || !re.Retriable || time.Now().Add(pause).After(deadline) {
			return err
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Second)
	}
}

func (r *Registry) once(method, path string, body []byte, out any, op string) error {
	req, err := http.NewRequestWithContext(context.Background(), method, r.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.password)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return &RegistryError{Op: op, Message: err.Error(), Retriable: true}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &RegistryError{Op: op, Message: "reading the response: " + err.Error(), Retriable: true}
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		retriable := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return &RegistryError{Op: op, Status: resp.StatusCode, Code: e.Code, Message: e.Message, Retriable: retriable}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &RegistryError{Op: op, Status: resp.StatusCode, Message: "the response is not the JSON expected: " + err.Error()}
	}
	return nil
}
