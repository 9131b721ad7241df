package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/linkedin/goavro/v2"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/internal/pipeline"
	"github.com/bulkstream/bulkstream/pkg/event"
	"github.com/bulkstream/bulkstream/schemas"
)

// schemaRegistry returns a client of the configured schema registry, or nil
// if none is configured.
func schemaRegistry(c config.SchemaRegistry) (*event.Registry, error) {
	if c.URL == "" {
		return nil, nil
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if c.TLS.CAFile != "" || c.TLS.InsecureSkipVerify {
		tc := &tls.Config{InsecureSkipVerify: c.TLS.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
		if c.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("schema_registry.tls.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("schema_registry.tls.ca_file: %s holds no PEM certificate", c.TLS.CAFile)
			}
		}
		transport.TLSClientConfig = tc
	}
	reg, err := event.NewRegistry(event.RegistryOptions{URL: c.URL, Username: c.Username, Password: string(c.Password),
		HTTPClient: &http.Client{Timeout: c.Timeout, Transport: transport}})
	if err != nil {
		return nil, fmt.Errorf("schema_registry.url: %w", err)
	}
	return reg, nil
}

// routeDecoder builds the decoder of route r, whose key (routes[i]) names it
// in errors: its format read from its encoding, with its mapping.
func routeDecoder(key string, r config.Route, reg *event.Registry) (event.Decoder, error) {
	var mapping *event.Mapping
	if m := r.Mapping; len(m.Rename)+len(m.Include)+len(m.Exclude)+len(m.Static)+len(m.TypeHints) > 0 {
		hints := make(map[string]event.TypeHint, len(m.TypeHints))
		for f, h := range m.TypeHints {
			hints[f] = event.TypeHint(h)
		}
		var err error
		mapping, err = event.NewMapping(event.MappingRules{Rename: m.Rename, Include: m.Include, Exclude: m.Exclude, Static: m.Static, TypeHints: hints})
		if err != nil {
			return nil, fmt.Errorf("%s.mapping: %w", key, err)
		}
	}
	d := event.Defaults{Object: r.Object, Operation: event.Operation(r.Operation), ExternalIDField: r.ExternalIDField, Mapping: mapping,
		Tombstones: event.Tombstones(r.Tombstones)}
	debezium := event.DebeziumOptions{Defaults: d, KeyField: r.KeyField}
	if r.Encoding != config.EncodingAvro {
		switch r.Format {
		case config.FormatJSON:
			return event.NewJSONDecoder(d), nil
		case config.FormatDebezium, config.FormatDebeziumUnwrapped:
			newDecoder := event.NewDebeziumDecoder
			if r.Format == config.FormatDebeziumUnwrapped {
				newDecoder = event.NewUnwrappedDebeziumDecoder
			}
			dec, err := newDecoder(debezium)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			return dec, nil
		case config.FormatSalesforceCDC:
			return event.NewSalesforceCDCDecoder(d), nil
		}
		return event.NewEnvelopeDecoder(d), nil
	}

	var shape event.Shape
	switch r.Format {
	case config.FormatJSON:
		shape = event.JSONShape(d)
	case config.FormatDebezium, config.FormatDebeziumUnwrapped:
		newShape := event.DebeziumShape
		if r.Format == config.FormatDebeziumUnwrapped {
			newShape = event.UnwrappedDebeziumShape
		}
		var err error
		if shape, err = newShape(debezium); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	case config.FormatEnvelope:
		shape = event.EnvelopeShape(d)
	default:
		return nil, fmt.Errorf("%s.encoding: format %s cannot be read from Avro", key, r.Format) // Validate refuses it
	}
	if r.SchemaFile != "" {
		text, err := os.ReadFile(r.SchemaFile)
		if err != nil {
			return nil, fmt.Errorf("%s.schema_file: %w", key, err)
		}
		schemas, err := event.FixedAvroSchema(string(text))
		if err != nil {
			return nil, fmt.Errorf("%s.schema_file: %s: %w", key, r.SchemaFile, err)
		}
		return event.NewAvroDecoder(shape, schemas), nil
	}
	if reg == nil {
		return nil, fmt.Errorf("%s.encoding: avro needs schema_registry.url or a schema_file", key) // Validate refuses it
	}
	return event.NewAvroDecoder(shape, reg), nil
}

// avroResults encodes result records as schemas/result.avsc in the
// Confluent wire format. Its schema is registered under the subject
// {topic}-value of the topic a result goes to (Confluent's
// TopicNameStrategy), once per topic. A registry that cannot be reached
// fails the encoding, which the pipeline retries as it retries a produce.
type avroResults struct {
	reg    *event.Registry
	codec  *goavro.Codec
	topics pipeline.Topics
}

func newAvroResults(reg *event.Registry, topics pipeline.Topics) (*avroResults, error) {
	if reg == nil {
		return nil, fmt.Errorf("results.format: avro needs schema_registry.url") // Validate refuses it
	}
	codec, err := goavro.NewCodec(schemas.Result)
	if err != nil {
		return nil, fmt.Errorf("schemas/result.avsc: %w", err)
	}
	return &avroResults{reg: reg, codec: codec, topics: topics}, nil
}

func (a *avroResults) encode(r *pipeline.Result) ([]byte, error) {
	topic := a.topics.Success
	if !r.Success {
		topic = a.topics.Failure
	}
	id, err := a.reg.Register(topic+"-value", schemas.Result)
	if err != nil {
		return nil, err
	}
	var sfID, replayOf, skipReason any
	if r.ID != nil {
		sfID = goavro.Union("string", *r.ID)
	}
	if r.SkipReason != "" {
		skipReason = goavro.Union("string", r.SkipReason)
	}
	if r.ReplayOf != nil {
		replayOf = goavro.Union("io.bulkstream.Source", map[string]any{"topic": r.ReplayOf.Topic, "partition": r.ReplayOf.Partition, "offset": r.ReplayOf.Offset})
	}
	var timestamp any
	if r.SourceTimestamp != 0 {
		timestamp = goavro.Union("long", r.SourceTimestamp)
	}
	headers := make([]any, len(r.SourceHeaders))
	for i, h := range r.SourceHeaders {
		headers[i] = map[string]any{"key": h.Key, "value": []byte(h.Value)}
	}
	return a.codec.BinaryFromNative(event.AppendWireHeader(nil, id), map[string]any{
		"success": r.Success, "created": r.Created, "id": sfID, "object": r.Object, "operation": r.Operation,
		"errorCode": r.ErrorCode, "error": r.Error, "jobId": r.JobID, "attempts": int32(r.Attempts),
		"source":   map[string]any{"topic": r.Source.Topic, "partition": r.Source.Partition, "offset": r.Source.Offset},
		"replayOf": replayOf, "status": r.Status, "skipReason": skipReason,
		"sourceTimestamp": timestamp, "sourceHeaders": headers,
	})
}
