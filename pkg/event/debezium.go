package event

import (
	"errors"
	"fmt"
	"strconv"
)

// DebeziumOptions configure the debezium format.
type DebeziumOptions struct {
	// Defaults: Object is the target object (required). Operation is what
	// create (c), snapshot read (r) and update (u) events become: Upsert
	// (the default when empty); Insert, with updates sent as updates by
	// Id; or Update. ExternalIDField is the field upserts match records
	// on. Mapping maps the row's columns to fields.
	Defaults
	// KeyField is the source column that carries the external id value,
	// usually the table's primary key: it is sent as ExternalIDField,
	// whatever the mapping says. Required with Upsert; optional with
	// Insert, which then keeps the external id for coalescing.
	KeyField string
}

type debeziumShape struct {
	o       DebeziumOptions
	connect *connectSchemas
	// unwrapped: the value is a row that ExtractNewRecordState flattened
	// (see NewUnwrappedDebeziumDecoder), not a change event.
	unwrapped bool
}

// DebeziumShape is the debezium format (see NewDebeziumDecoder) for an Avro
// decoder: the value is Debezium's Envelope record.
func DebeziumShape(o DebeziumOptions) (Shape, error) {
	if o.Operation == "" {
		o.Operation = Upsert
	}
	var errs []error
	switch o.Operation {
	case Upsert:
		if o.KeyField == "" || o.ExternalIDField == "" {
			errs = append(errs, errors.New("an upsert route needs a key field and an external id field"))
		}
	case Insert, Update:
		if o.KeyField != "" && o.ExternalIDField == "" {
			errs = append(errs, errors.New("a key field needs an external id field to be sent as"))
		}
	default:
		errs = append(errs, fmt.Errorf("operation %q: change events become upsert, insert or update", o.Operation))
	}
	switch t, ok := ParseTombstones(string(o.Tombstones)); {
	case !ok:
		errs = append(errs, fmt.Errorf("tombstones %q: want skip, delete or fail", o.Tombstones))
	case t == TombstonesDelete && (o.KeyField == "" || o.ExternalIDField == ""):
		errs = append(errs, errors.New("tombstones delete needs a key field and an external id field: the key's column names the record"))
	}
	if o.KeyField != "" && o.Mapping != nil && (o.Mapping.exclude[o.KeyField] || o.Mapping.rename[o.KeyField] != "") {
		errs = append(errs, fmt.Errorf("the mapping renames or excludes the key field %s, which is always sent as %s", o.KeyField, o.ExternalIDField))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("debezium: %w", err)
	}
	return &debeziumShape{o: o, connect: &connectSchemas{}}, nil
}

type debeziumDecoder struct{ s *debeziumShape }

// NewDebeziumDecoder returns a decoder of Debezium change events in JSON,
// as Kafka Connect's JsonConverter writes them: with the schema/payload
// wrapper (schemas.enable=true) or without. NewAvroDecoder with
// DebeziumShape reads them in Avro.
//
// The event's op says what happens:
//
//   - c (create), r (snapshot read) and u (update) send the after row with
//     o.Operation: an upsert by default, matching on the column KeyField
//     sent as ExternalIDField;
//   - d (delete) deletes the record its before row names: by Id if the
//     mapping sends a column as Id, else by the external id (the column
//     KeyField), which the pipeline resolves to the record's Id;
//   - t (truncate), m (message) and any other op are a *DecodeError;
//   - a tombstone (a null value, which Debezium writes after each delete so
//     that log compaction can drop the key) is a *SkipError by default:
//     the d event before it has deleted the record. With o.Tombstones
//     TombstonesDelete it is a delete by external id, named by the Kafka
//     key: Debezium's key is a JSON object of the primary key columns (in
//     the schema/payload wrapper or not; in Avro, a record in the Confluent
//     wire format), whose column KeyField is the external id value; with
//     TombstonesFail, a *DecodeError;
//   - a record without op that Debezium writes beside change events is a
//     *SkipError: a heartbeat (a value of ts_ms alone,
//     io.debezium.connector.common.Heartbeat), a schema change event (with
//     ddl or tableChanges) and a transaction metadata event (status BEGIN
//     or END). Any other value without op is a *DecodeError.
//
// A row's columns become fields as the Avro decoder describes (nested
// records flattened by path, dates and timestamps in Salesforce's form);
// with the schema wrapper, Debezium's semantic types (io.debezium.time.Date,
// MicroTimestamp, ZonedTimestamp, org.apache.kafka.connect.data.Decimal,
// VariableScaleDecimal, ...) are read as what they stand for, and a decimal
// (base64 in JSON) is written with its scale. Without the wrapper a value
// is what its JSON says, and type hints in the mapping say the rest. Then
// o.Mapping applies, and the rules of Decoder. The decoder is safe for
// concurrent use.
func NewDebeziumDecoder(o DebeziumOptions) (Decoder, error) {
	s, err := DebeziumShape(o)
	if err != nil {
		return nil, err
	}
	return debeziumDecoder{s.(*debeziumShape)}, nil
}

func (d debeziumDecoder) Decode(src Source) (*Change, error) {
	if src.Value == nil {
		return d.s.tombstone(src, keyValue)
	}
	var r reader
	if err := r.read(src.Value, d.s.format()); err != nil {
		return nil, err
	}
	root := &r.tree
	if d.s.unwrapped {
		return d.s.unwrappedJSON(root, src)
	}
	if p := root.member("payload"); p != nil && root.member("op") == nil {
		if p.kind != kindRecord {
			return nil, decodeErrorf("\"payload\" is %s, want a Debezium change event", p.describe())
		}
		if p.member("op") == nil {
			return d.s.change(p, src) // no row to read by its schema: a heartbeat or another record without op
		}
		if s := root.member("schema"); s != nil && s.kind == kindRaw {
			sch, err := d.s.connect.get(s.text)
			if err != nil {
				return nil, err
			}
			// Only the rows are read by their schema: the source block
			// differs between connectors and versions (the documentation's
			// SQL Server events have a string event_serial_no that their
			// schema calls int64), and a mismatch there is no reason to
			// refuse a row.
			for _, key := range [...]string{"before", "after"} {
				if row := p.member(key); row != nil {
					if err := typed(row, sch.field(key), key, 1); err != nil {
						return nil, err
					}
				}
			}
		}
		root = p
	}
	return d.s.change(root, src)
}

func (d *debeziumShape) format() format {
	if d.unwrapped {
		return debeziumUnwrappedFormat
	}
	return debeziumFormat
}

func (d *debeziumShape) tombstone(src Source, key keyReader) (*Change, error) {
	if d.unwrapped {
		return d.unwrappedTombstone(src, key)
	}
	return tombstone(d.o.Tombstones.orDefault(TombstonesSkip), d.o.Object, Delete, d.o.ExternalIDField, d.o.KeyField, src, key,
		"a tombstone (a null value), which Debezium writes after each delete event so that log compaction can drop the key; the delete event deleted the record",
		decodeErrorf("record value is null: a tombstone, which Debezium writes after a delete so that log compaction can drop the key; "+
			"the route's tombstones setting is fail (skip leaves them out; delete deletes by the key's %s column)", orKeyField(d.o.KeyField)))
}

func orKeyField(k string) string {
	if k == "" {
		return "key field"
	}
	return k
}

func (d *debeziumShape) change(root *node, src Source) (*Change, error) {
	if d.unwrapped {
		return d.unwrappedChange(root, src)
	}
	opNode := root.member("op")
	if opNode == nil {
		if reason := notAChange(root); reason != "" {
			return nil, skipf(reason)
		}
		return nil, decodeErrorf("the value has no \"op\"; a Debezium change event has op, before, after and source")
	}
	op, err := opNode.optionalText("op")
	if err != nil {
		return nil, err
	}
	switch op {
	case "c", "r", "u":
		row, err := d.row(root, "after", op)
		if err != nil {
			return nil, err
		}
		operation := d.o.Operation
		if op == "u" && operation == Insert {
			operation = Update
		}
		ext := d.o.ExternalIDField
		if operation == Update {
			ext = ""
		}
		return finish(debeziumFormat, d.o.Object, string(operation), ext, row, src)
	case "d":
		row, err := d.row(root, "before", op)
		if err != nil {
			return nil, err
		}
		return deleteChange(debeziumFormat, d.o.Object, d.o.ExternalIDField, row, src)
	case "t":
		return nil, decodeErrorf("op \"t\" (truncate) is not supported: Bulk API 2.0 deletes records by Id, one row each, and cannot empty an object")
	case "m":
		return nil, decodeErrorf("op \"m\" (a logical decoding message) carries no row to write")
	case "":
		return nil, decodeErrorf("\"op\" is empty; a Debezium change event's op is c, r, u, d or t")
	}
	return nil, decodeErrorf("unknown op %q (Debezium's ops are c, r, u, d, t and m)", op)
}

// row returns the fields of the row under key (after or before).
func (d *debeziumShape) row(root *node, key, op string) ([]Field, error) {
	n := root.member(key)
	if n == nil || n.kind != kindRecord {
		what := "no"
		if n != nil {
			what = n.describe() + " as its"
		}
		return nil, decodeErrorf("op %q has %s %q row", op, what, key)
	}
	return d.fields(n, strconv.Quote(key)+" row")
}

// fields are the mapped fields of the row n, which what names in messages.
func (d *debeziumShape) fields(n *node, what string) ([]Field, error) {
	cols, err := flatten(make([]column, 0, len(n.members)), "", n, 0)
	if err != nil {
		return nil, err
	}
	if d.o.KeyField != "" && !hasColumn(cols, d.o.KeyField) {
		return nil, decodeErrorf("the %s has no column %q (the route's key field)", what, d.o.KeyField)
	}
	return d.o.Mapping.apply(cols, keyColumn{source: d.o.KeyField, field: d.o.ExternalIDField}, nil)
}

func hasColumn(cols []column, name string) bool {
	for _, c := range cols {
		if c.name == name {
			return true
		}
	}
	return false
}

// notAChange says what a Debezium record without op is, if it is one that
// Debezium writes beside change events and that needs no write, or "".
func notAChange(root *node) string {
	switch {
	case len(root.members) == 1 && root.members[0].name == "ts_ms":
		return "a Debezium heartbeat (io.debezium.connector.common.Heartbeat), which carries no row"
	case root.member("ddl") != nil || root.member("tableChanges") != nil:
		what := "a Debezium schema change event"
		if db := root.member("databaseName"); db != nil && db.kind == kindText && db.text != "" {
			what += " of database " + db.text
		}
		return what + ", which carries no row"
	case root.member("status") != nil && root.member("id") != nil && root.member("event_count") != nil:
		status, _ := root.member("status").optionalText("status")
		return fmt.Sprintf("a Debezium transaction metadata event (%s), which carries no row", status)
	}
	return ""
}
