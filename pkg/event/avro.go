package event

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/linkedin/goavro/v2"
)

// AvroSchemas gives the Avro schema that a record value was written with,
// which is the schema to read it with (goavro does not resolve a writer's
// schema against another reader's schema). A *Registry reads the Confluent
// wire format; FixedAvroSchema reads plain Avro binary.
type AvroSchemas interface {
	// writerSchema returns the schema of value and the Avro binary in it.
	// A *RegistryError means the registry did not give the schema: see
	// IsRegistryUnavailable for whether that may pass.
	writerSchema(value []byte) (*avroSchema, []byte, error)
}

// avroSchema is an Avro schema ready to read values: goavro's codec, and
// what the schema says that goavro's native values do not (the fields of
// records in order, decimal scales, Debezium's semantic types).
type avroSchema struct {
	id    int // in the registry; 0 for a fixed schema
	codec *goavro.Codec
	root  *schema
}

// maxAvroBlockItems bounds the items of one block of an Avro array or map
// (goavro.MaxBlockCount, 2^31 by default). goavro makes room for a block's
// declared count before it reads a single item, so a fuzzed value of
// seven bytes took 2.5 GB to fail; a longer block now fails the value at
// once. No value meant for Salesforce rows (some hundred fields at
// most) comes near it. goavro's bound is one for the process: only
// decoding reads it, and Avro is decoded only here.
const maxAvroBlockItems = 1 << 20

func init() { goavro.MaxBlockCount = maxAvroBlockItems }

// compileAvro builds an avroSchema from the schema's JSON text.
func compileAvro(id int, text string) (*avroSchema, error) {
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, err
	}
	root, err := (&avroNames{named: map[string]*schema{}}).parse(v, "", 0)
	if err != nil {
		return nil, err
	}
	return &avroSchema{id: id, codec: codec, root: root}, nil
}

// fixedSchema reads plain Avro binary with one schema.
type fixedSchema struct{ s *avroSchema }

// FixedAvroSchema returns the schema source of a route whose values are
// plain Avro binary (no wire-format header), all written with the schema
// whose JSON text is schemaJSON, such as the content of a .avsc file.
func FixedAvroSchema(schemaJSON string) (AvroSchemas, error) {
	s, err := compileAvro(0, schemaJSON)
	if err != nil {
		return nil, fmt.Errorf("avro schema: %w", err)
	}
	return fixedSchema{s}, nil
}

func (f fixedSchema) writerSchema(value []byte) (*avroSchema, []byte, error) { return f.s, value, nil }

// avroNames resolves the named types of one schema.
type avroNames struct{ named map[string]*schema }

// primitives are Avro's primitive type names.
var primitives = []string{"null", "boolean", "int", "long", "float", "double", "bytes", "string"}

// parse reads the schema v, a type name, an object or a union, in the
// enclosing namespace ns.
func (a *avroNames) parse(v any, ns string, depth int) (*schema, error) {
	if depth > 4*maxNesting {
		return nil, fmt.Errorf("schema nests more than %d deep", 4*maxNesting)
	}
	switch t := v.(type) {
	case string:
		if slices.Contains(primitives, t) {
			return &schema{base: t}, nil
		}
		if s := a.named[fullName(t, "", ns)]; s != nil {
			return s, nil
		}
		if s := a.named[t]; s != nil {
			return s, nil
		}
		return nil, fmt.Errorf("unknown type %q", t)
	case []any:
		u := &schema{base: "union"}
		for _, b := range t {
			s, err := a.parse(b, ns, depth+1)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, s)
		}
		return u, nil
	case map[string]any:
		return a.parseObject(t, ns, depth)
	}
	return nil, fmt.Errorf("a type is a name, an object or a list, not %T", v)
}

func (a *avroNames) parseObject(m map[string]any, ns string, depth int) (*schema, error) {
	typ, _ := m["type"].(string)
	if typ == "" {
		if m["type"] == nil {
			return nil, fmt.Errorf("a type object has no \"type\"")
		}
		return a.parse(m["type"], ns, depth+1) // {"type": {...}} or {"type": [...]}
	}
	logical, _ := m["logicalType"].(string)
	connectName, _ := m["connect.name"].(string)
	s := &schema{base: typ, semantic: semanticOf(logical, connectName)}
	if s.semantic == semDecimal {
		scale, _ := m["scale"].(float64)
		if scale < 0 || scale > maxScale || scale != math.Trunc(scale) {
			return nil, fmt.Errorf("decimal scale %v is out of range (0 to %d)", scale, maxScale)
		}
		s.scale = int32(scale)
	}
	switch typ {
	case "record", "error", "enum", "fixed":
		name, _ := m["name"].(string)
		space, _ := m["namespace"].(string)
		s.name = fullName(name, space, ns)
		if typ == "error" {
			s.base = "record"
		}
		a.named[s.name] = s // before the fields, which may refer to it
		if s.base != "record" {
			return s, nil
		}
		fields, _ := m["fields"].([]any)
		inner := s.name[:max(strings.LastIndexByte(s.name, '.'), 0)]
		for _, f := range fields {
			fm, ok := f.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %s: a field is not an object", s.name)
			}
			fname, _ := fm["name"].(string)
			ft, err := a.parse(fm["type"], inner, depth+1)
			if err != nil {
				return nil, fmt.Errorf("record %s, field %s: %w", s.name, fname, err)
			}
			s.fields = append(s.fields, schemaField{name: fname, schema: ft})
		}
	case "array", "map":
		key := "items"
		if typ == "map" {
			key = "values"
		}
		var err error
		if s.items, err = a.parse(m[key], ns, depth+1); err != nil {
			return nil, err
		}
	default:
		if !slices.Contains(primitives, typ) {
			return a.parse(typ, ns, depth+1) // {"type": "a.named.Type"}
		}
	}
	return s, nil
}

// fullName is the full name of the Avro name n declared with namespace
// space inside the namespace ns.
func fullName(n, space, ns string) string {
	switch {
	case strings.Contains(n, "."):
		return n
	case space != "":
		return space + "." + n
	case ns != "":
		return ns + "." + n
	}
	return n
}

// branch returns the union branch that goavro names key in a native union
// value: a named type by its full name, any other by its type ("long", or
// "long.timestamp-millis" for a logical type), which is unique in a union.
func (s *schema) branch(key string) *schema {
	for _, b := range s.branches {
		if b.name == key {
			return b
		}
	}
	base, _, _ := strings.Cut(key, ".")
	for _, b := range s.branches {
		if b.name == "" && b.base == base {
			return b
		}
	}
	return nil
}

// fromAvro converts goavro's native value v of type s into a node.
func fromAvro(v any, s *schema, depth int) (node, error) {
	if depth > 4*maxNesting {
		return node{}, decodeErrorf("the Avro value nests more than %d deep", 4*maxNesting)
	}
	if s != nil && s.base == "union" {
		u, ok := v.(map[string]any)
		if v == nil {
			return node{rec: s.record()}, nil
		}
		if !ok || len(u) != 1 {
			return node{}, decodeErrorf("an Avro union value is %T", v)
		}
		for key, x := range u {
			return fromAvro(x, s.branch(key), depth+1)
		}
	}
	switch x := v.(type) {
	case nil:
		return node{rec: s.record()}, nil
	case bool:
		if x {
			return node{kind: kindBool, text: "true"}, nil
		}
		return node{kind: kindBool, text: "false"}, nil
	case int32:
		return intNode(int64(x), 32, s)
	case int64:
		return intNode(x, 64, s)
	case float32:
		return node{kind: kindFloat, bits: 32, i: int64(math.Float64bits(float64(x)))}, nil
	case float64:
		return node{kind: kindFloat, bits: 64, i: int64(math.Float64bits(x))}, nil
	case string:
		if !utf8.ValidString(x) {
			return node{}, decodeErrorf("an Avro string is not valid UTF-8")
		}
		return stringNode(x, s)
	case []byte:
		return bytesNode(string(x), s), nil
	case time.Time:
		if s != nil && s.semantic == semDate {
			return node{kind: kindDate, i: floorDiv(x.Unix(), 24*3600)}, nil
		}
		return timeNode(x)
	case time.Duration:
		return node{kind: kindTime, i: x.Microseconds()}, nil
	case *big.Rat:
		var scale int32
		if s != nil {
			scale = s.scale
		}
		return node{kind: kindDecimal, text: x.FloatString(int(scale))}, nil
	case []any:
		n := node{kind: kindArray, members: make([]member, len(x))}
		var items *schema
		if s != nil {
			items = s.items
		}
		for i := range x {
			var err error
			if n.members[i].value, err = fromAvro(x[i], items, depth+1); err != nil {
				return node{}, err
			}
		}
		return n, nil
	case map[string]any:
		return avroRecord(x, s, depth)
	}
	return node{}, decodeErrorf("unexpected Avro value of Go type %T", v)
}

// avroRecord converts a record, in the order of its schema's fields, or a
// map, in the order of its keys (goavro's maps have no order).
func avroRecord(m map[string]any, s *schema, depth int) (node, error) {
	n := node{kind: kindRecord, members: make([]member, 0, len(m))}
	if s != nil && s.base == "record" {
		for _, f := range s.fields {
			v, err := fromAvro(m[f.name], f.schema, depth+1)
			if err != nil {
				return node{}, err
			}
			n.members = append(n.members, member{name: f.name, value: v})
		}
		if s.semantic.recordValue() {
			return recordValue(&n, s.semantic)
		}
		return n, nil
	}
	var values *schema
	if s != nil {
		values = s.items
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !utf8.ValidString(k) {
			return node{}, decodeErrorf("an Avro map key is not valid UTF-8")
		}
		v, err := fromAvro(m[k], values, depth+1)
		if err != nil {
			return node{}, err
		}
		n.members = append(n.members, member{name: k, value: v})
	}
	return n, nil
}

type avroDecoder struct {
	shape   Shape
	schemas AvroSchemas
}

// NewAvroDecoder returns a decoder of Avro record values of the given shape
// (EnvelopeShape, JSONShape, DebeziumShape), written with the schemas that
// schemas gives. The Avro value becomes what the JSON formats read:
//
//   - a record's fields keep the order of its schema; a map's, the order
//     of their names;
//   - a union is its branch; null is null;
//   - a nested record is flattened into fields named by their path
//     (address.city), and a null record makes each of its fields null;
//   - int, long, float and double are written in plain decimal, boolean
//     as true or false, bytes and fixed in base64, an enum as its symbol;
//   - date is yyyy-MM-dd, timestamp-millis and timestamp-micros are
//     yyyy-MM-ddTHH:mm:ss.SSSZ in UTC, time-millis and time-micros
//     HH:mm:ss.SSSZ, and a decimal is a plain decimal with its scale;
//   - the semantic types Debezium and Kafka Connect name in connect.name
//     (io.debezium.time.Date, MicroTimestamp, ZonedTimestamp, Decimal,
//     VariableScaleDecimal, ...) are read as what they stand for;
//   - arrays are an error, unless the mapping leaves them out.
//
// A value that is not valid for its schema, or that has bytes after its
// end, is a *DecodeError. A schema that the registry does not give is a
// *RegistryError: for one it cannot give now (IsRegistryUnavailable) the
// record should wait, for an id it does not have the record fails. A
// tombstone is what the shape's Tombstones setting says; a delete reads the
// record key, in Avro through the registry (see readKey). The decoder is
// safe for concurrent use.
func NewAvroDecoder(s Shape, schemas AvroSchemas) Decoder { return avroDecoder{s, schemas} }

func (d avroDecoder) Decode(src Source) (*Change, error) {
	switch {
	case src.Value == nil:
		return d.shape.tombstone(src, d.readKey)
	case len(src.Value) == 0:
		return nil, decodeErrorf("record value is empty; the %s format in Avro needs a record", d.shape.format())
	}
	s, bin, err := d.schemas.writerSchema(src.Value)
	if err != nil {
		return nil, err
	}
	root, err := s.decode(bin)
	if err != nil {
		return nil, err
	}
	if root.kind != kindRecord {
		return nil, decodeErrorf("the Avro value is %s; the %s format needs a record", root.describe(), d.shape.format())
	}
	return d.shape.change(&root, src)
}

// readKey reads the value of column out of a record key. A key in the
// Confluent wire format (magic byte 0, a schema id, Avro binary), as
// Confluent's AvroConverter writes Debezium's keys, is read with its schema
// from the registry: a record's column (by its name, regardless of case),
// or a key that is a single value. Any other key, and every key of a
// decoder whose schemas are not a registry's, is read as keyValue does. A
// registry that cannot give the key's schema is a *RegistryError.
func (d avroDecoder) readKey(key []byte, column string) (string, error) {
	reg, ok := d.schemas.(*Registry)
	if !ok || len(key) < wireHeaderSize || key[0] != 0 {
		return keyValue(key, column)
	}
	s, bin, err := reg.writerSchema(key)
	if err != nil {
		return "", err
	}
	root, err := s.decode(bin)
	if err != nil {
		return "", err
	}
	n := &root
	if root.kind == kindRecord {
		n = nil
		for i := range root.members {
			if strings.EqualFold(root.members[i].name, column) {
				n = &root.members[i].value
				break
			}
		}
		if n == nil {
			return "", fmt.Errorf("the record key (Avro, schema id %d) has no field %q", s.id, column)
		}
	}
	v, err := n.value("")
	switch {
	case err != nil:
		return "", fmt.Errorf("the record key's %q: %v", column, err)
	case v.Null:
		return "", fmt.Errorf("the record key's %q is null", column)
	}
	return v.Text, nil
}

// decode reads one Avro binary value, all of bin.
func (s *avroSchema) decode(bin []byte) (root node, err error) {
	defer func() {
		// goavro is outside this module; a value that makes it panic is a
		// bad value, not a reason to stop the connector.
		if p := recover(); p != nil {
			err = decodeErrorf("invalid Avro%s: %v", s.what(), p)
		}
	}()
	native, rest, err := s.codec.NativeFromBinary(bin)
	if err != nil {
		return node{}, decodeErrorf("invalid Avro%s: %v", s.what(), err)
	}
	if len(rest) > 0 {
		return node{}, decodeErrorf("invalid Avro%s: %d bytes follow the value", s.what(), len(rest))
	}
	return fromAvro(native, s.root, 0)
}

// what names the schema for messages.
func (s *avroSchema) what() string {
	if s.id == 0 {
		return " for the route's schema_file"
	}
	return fmt.Sprintf(" for schema id %d", s.id)
}
