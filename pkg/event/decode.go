package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeErrorCode is the errorCode of the failure result that the pipeline
// reports for an event that cannot be decoded.
const DecodeErrorCode = "BULKSTREAM_DECODE"

// DecodeError is an event that cannot be decoded: its record value is not
// what its format requires, or it lacks what its operation needs. Retrying
// it cannot succeed. Its code is always DecodeErrorCode.
type DecodeError struct {
	// Reason says what is wrong and, where it can, in which JSON field,
	// e.g. `field "Address": value is an object; a field takes a string,
	// number, boolean or null`.
	Reason string
}

func (e *DecodeError) Error() string { return "decode: " + e.Reason }

func decodeErrorf(format string, args ...any) *DecodeError {
	return &DecodeError{Reason: fmt.Sprintf(format, args...)}
}

// Defaults are what a route says about its events where the events do not:
// the envelope format's own keys override them, and the json format takes
// all three from here (there Object and Operation are required). Mapping,
// if not nil, maps the fields of every event (see MappingRules).
type Defaults struct {
	Object          string    // Salesforce object API name, e.g. Account
	Operation       Operation // spelled as Salesforce spells it, e.g. hardDelete
	ExternalIDField string    // the field an upsert matches records by; "Id" is allowed
	Mapping         *Mapping
	// Tombstones is what a tombstone (a null record value) becomes: a
	// delete by the record key, a *SkipError or a *DecodeError. Empty is
	// the format's default; see Tombstones.
	Tombstones Tombstones
}

// Decoder turns the value of a Kafka record into a change. A record that
// cannot be decoded yields a *DecodeError and never a panic; the change
// carries src as its Source. A record that needs no write (a skipped
// tombstone, a Debezium heartbeat) yields a *SkipError (see IsSkip).
// Another error says that a service the decoder needs failed (a schema
// registry, a *RegistryError; IsRegistryUnavailable says whether it may
// pass), not that the record is bad.
//
// Both JSON formats share these rules. Field values are strings, numbers,
// booleans or null. A number keeps its JSON text exactly (1.5e3 stays
// 1.5e3, which Salesforce accepts); a boolean becomes true or false; null
// becomes a null value (written #N/A). An empty string also becomes null:
// in a Bulk API CSV an empty cell means "leave the field unchanged", which
// is never what a source that sets a field to "" means. Fields keep the
// order of the JSON document. A field name must be usable as a CSV header
// (not empty, no comma, double quote, CR or LF) and unique regardless of
// case, as Salesforce matches field names. Names such as
// Account.External_Id__c (a parent by external id) pass through as they
// are. Object names and operations are case-sensitive.
//
// What the operation needs: an upsert needs a non-null value for its
// external id field (which may be Id); update, delete and hardDelete need
// a Salesforce record Id (15 or 18 letters and digits) in the field Id;
// delete and hardDelete keep only Id, since their CSV has only that column;
// an insert needs at least one field. An insert keeps the external id field
// it was given, so that Change.RecordKey can coalesce two inserts of one
// record. The record value must be valid UTF-8 (a lone UTF-16 surrogate
// escape such as \ud800 counts as invalid), and a null value (a tombstone)
// is what Defaults.Tombstones says. A record with several faults is reported by the first one
// that reading it in document order meets, before what its operation needs.
type Decoder interface {
	Decode(src Source) (*Change, error)
}

// ReusingDecoder is a Decoder that can decode into a Change the caller
// reuses, for a caller that decodes many records and is done with each
// Change before the next (the pipeline's decode workers): the Change and
// its Fields' array are then allocated once, not per record.
// DecodeReusing returns what Decode returns, except that the Change may be
// c, overwritten, with Fields in c.Fields' array; the strings it holds are
// new, as with Decode. After an error, what c holds is undefined: reuse it,
// do not read it. The JSON and envelope decoders are ReusingDecoders.
type ReusingDecoder interface {
	Decoder
	DecodeReusing(src Source, c *Change) (*Change, error)
}

// format is the shape of record values.
type format uint8

const (
	envelopeFormat          format = iota // see NewEnvelopeDecoder
	jsonFormat                            // see NewJSONDecoder
	debeziumFormat                        // see NewDebeziumDecoder
	salesforceCDCFormat                   // see NewSalesforceCDCDecoder
	debeziumUnwrappedFormat               // see NewUnwrappedDebeziumDecoder
)

func (f format) String() string {
	switch f {
	case envelopeFormat:
		return "envelope"
	case jsonFormat:
		return "json"
	case debeziumFormat:
		return "debezium"
	case debeziumUnwrappedFormat:
		return "debezium_unwrapped"
	}
	return "salesforce_cdc"
}

// missing says why the format has no value for key.
func (f format) missing(key string) string {
	if f == envelopeFormat {
		return "the envelope has no " + strconv.Quote(key) + " and the route gives none"
	}
	return "the route gives none"
}

// reader walks one record value. The walk checks every byte it steps over
// by json.Valid's and utf8.Valid's rules (strings, numbers, literals and
// the tokens between them), and stops at the first it cannot read. Names
// and values without escapes are substrings of one copy of the value from
// the first of them that a change keeps (see textAt), which keeps a decode
// at a few allocations whatever the number of fields (json.Decoder's Token
// costs about twelve allocations per field). The walk keeps document order.
//
// When the value is not valid, or the walk has not read all of it, the
// walk runs again over its valid prefix only, found by validJSON and
// encoding/json: it stops where the prefix ends, and its position names the
// place of the fault for the message, unless it finds an earlier fault of
// its own. See read.
type reader struct {
	src []byte
	// text is src[textFrom:] as a string, made by the first textAt: names
	// and values are its substrings.
	text     string
	textFrom int
	pos      int
	// at is where the walk is: the key whose value comes next or, with
	// at.after, the key whose value was read last.
	at      loc
	keyFrom int // offset of the key being read, or -1
	// folds[i] is foldKey of fields[i]'s name, for the first foldMapAt
	// fields, and keyBits has a bit of each of their keys set (all for a key
	// of 0); fold maps the names folded to lower case from foldMapAt
	// fields on. See duplicate.
	folds   [foldMapAt]uint32
	keyBits uint64
	fold    map[string]string

	// What the record gave; the route's defaults until the record overrides.
	object, operation, externalID string
	fields                        []Field
	// into is the Change to decode into, whose Fields' array fields reuses
	// (see ReusingDecoder); nil: a new one.
	into *Change

	// tree is the whole value, for the formats that read it as a tree of
	// nodes (debezium, salesforce_cdc) rather than field by field; stack
	// holds the members of the objects being read (see treeObject).
	tree  node
	stack []member
}

// errPrefixEnd stops a walk at the end of the valid prefix of a value that
// is not valid. A walk of a whole valid value never returns it.
var errPrefixEnd = &DecodeError{Reason: "invalid JSON: the value ends early"}

// read walks the record value v of format f into r.
func (r *reader) read(v []byte, f format) error {
	switch {
	case v == nil:
		return nullJSONError(f)
	case len(v) == 0:
		return decodeErrorf("record value is empty; the %s format needs a JSON object", f)
	}
	r.src, r.keyFrom, r.textFrom = v, -1, -1
	if f == envelopeFormat || f == jsonFormat {
		// Their walk reads every byte up to the end of the top-level
		// object or to its first fault, so it needs no check of the whole
		// value first: each byte is scanned once. A fault of its own
		// (a field that is an object, an unknown key) that it meets
		// before any fault of JSON or UTF-8 is the answer as it would be
		// after a check; any other end of the walk is looked at again,
		// from the start, as the walk found r: what the record gives (the
		// route's defaults until then) and where the walk is. Only the
		// members that the walk changes and readChecked does not set are
		// saved (folds is written before it is read, text when textFrom is
		// set), not the whole reader, whose copy (about 400 bytes) cost
		// more than the rest of read.
		object, operation, externalID, fields := r.object, r.operation, r.externalID, r.fields
		pos, at, keyBits, fold := r.pos, r.at, r.keyBits, r.fold
		err := r.walk(f)
		if !errors.Is(err, errPrefixEnd) && (err != nil || skipSpace(v, r.pos) == len(v)) {
			return err
		}
		r.object, r.operation, r.externalID, r.fields = object, operation, externalID, fields
		r.pos, r.at, r.keyBits, r.fold = pos, at, keyBits, fold
	}
	return r.readChecked(v, f)
}

// readChecked walks the record value v of format f into r, as read does,
// after checking the whole value: a value that is not valid is walked up
// to its first fault only, which the message names.
func (r *reader) readChecked(v []byte, f format) error {
	r.src, r.keyFrom, r.textFrom = v, -1, -1
	if validJSON(v) {
		return r.walk(f)
	}
	fault, reason := jsonFault(v)
	utf8Fault := -1
	if !utf8.Valid(v) {
		utf8Fault = firstInvalidUTF8(v)
	}
	if fault < 0 && utf8Fault < 0 { // valid, nested deeper than validJSON checks
		return r.walk(f)
	}
	// The earlier fault wins; at one byte (outside a string) the JSON one.
	if fault < 0 || utf8Fault >= 0 && utf8Fault < fault {
		fault, reason = utf8Fault, ""
	} else {
		utf8Fault = -1
	}
	r.src = v[:fault]
	switch err := r.walk(f); {
	case err == nil: // the prefix is the whole object: the fault follows it
		return decodeErrorf("invalid JSON at byte %d: %s", fault, reason)
	case !errors.Is(err, errPrefixEnd):
		return err // an earlier fault
	}
	switch {
	case utf8Fault >= 0 && r.keyFrom >= 0:
		return decodeErrorf("%s is not valid UTF-8 (byte %d)", r.nameAt(v), fault)
	case utf8Fault >= 0 && r.at.key != "" && !r.at.after:
		return decodeErrorf("%s: value is not valid UTF-8 (byte %d)", r.at, fault)
	case utf8Fault >= 0:
		return decodeErrorf("record value is not valid UTF-8 (byte %d)", fault)
	case fault == len(v):
		return decodeErrorf("%sinvalid JSON: the value ends early", r.where(v))
	}
	return decodeErrorf("%sinvalid JSON at byte %d: %s", r.where(v), fault, reason)
}

// nullJSONError is the failure of a tombstone that a JSON route fails.
func nullJSONError(f format) *DecodeError {
	return decodeErrorf("record value is null (a tombstone); the %s format needs a JSON object", f)
}

// jsonFault returns the offset of the first byte of v that cannot continue
// valid JSON and the scanner's message, len(v) if v is a valid but
// incomplete start of a document, or -1 if v is valid.
func jsonFault(v []byte) (int, string) {
	if json.Valid(v) {
		return -1, ""
	}
	// A NUL byte is valid nowhere in JSON, so after one appended the
	// scanner fails at it if and only if v is a valid start that ends
	// early; else it fails inside v, where it would without the NUL.
	var se *json.SyntaxError
	if !errors.As(json.Unmarshal(append(v[:len(v):len(v)], 0), new(json.RawMessage)), &se) {
		return len(v), "" // cannot be: the NUL is invalid
	}
	// Offset counts the bytes read, the offending one included.
	return min(int(se.Offset)-1, len(v)), se.Error()
}

// walk reads the top-level object.
func (r *reader) walk(f format) error {
	switch c := r.next(); c {
	case '{':
		r.pos++
	case 0:
		return errPrefixEnd
	default:
		if !startsValue(c) {
			return errPrefixEnd
		}
		return decodeErrorf("record value is %s; the %s format needs a JSON object", kind(c), f)
	}
	switch f {
	case envelopeFormat:
		return r.envelope()
	case jsonFormat:
		r.fields = r.newFields()
		return r.members(true, nil, r.field)
	}
	stack := stacks.Get().(*[]member)
	r.stack = (*stack)[:0]
	tree, err := r.treeObject(true)
	r.tree = tree
	if cap(r.stack) <= maxPooledStack { // a huge value's stack is not kept
		*stack = r.stack[:0] // empty and cleared: treeObject leaves it so
		stacks.Put(stack)
	}
	return err
}

// members reads the members of an object whose '{' has been read, up to
// and including its '}', calling member for each after its key and colon.
// fields says whether the keys are field names, for messages. A key
// spelled as one of known is that string, not a substring of the value.
func (r *reader) members(fields bool, known []string, member func(key string) error) error {
	r.at = loc{field: fields, after: true}
	if r.next() == '}' {
		r.pos++
		return nil
	}
	for {
		if r.next() != '"' {
			return errPrefixEnd
		}
		r.keyFrom = r.pos
		key, err := r.knownStr(known)
		if err != nil {
			return err
		}
		r.keyFrom = -1
		r.at = loc{key: key, field: fields}
		if r.next() != ':' {
			return errPrefixEnd
		}
		r.pos++
		// A fault at the value's first byte comes before any that member
		// finds in the key.
		if !startsValue(r.next()) {
			return errPrefixEnd
		}
		if err := member(key); err != nil {
			return err
		}
		// A value never ends a whole document, so one that reaches the
		// end of the prefix may have been cut.
		if r.pos >= len(r.src) {
			return errPrefixEnd
		}
		r.at.after = true
		switch r.next() {
		case ',':
			r.pos++
		case '}':
			r.pos++
			return nil
		default:
			return errPrefixEnd
		}
	}
}

// field reads the value of the field name and appends the field.
func (r *reader) field(name string) error {
	key, err := foldKey(name)
	if err != nil {
		return err
	}
	if other, dup := r.duplicate(name, key); dup {
		if other == name {
			return decodeErrorf("%s appears twice", r.at)
		}
		return decodeErrorf("%s duplicates field %q (Salesforce field names ignore case)", r.at, other)
	}
	v := NullValue
	switch c := r.src[r.pos]; c {
	case '"':
		s, err := r.str()
		if err != nil {
			return err
		}
		if s != "" {
			v = Text(s)
		}
	case 'n':
		if err := r.literal("null"); err != nil {
			return err
		}
	case 't', 'f':
		s, err := r.boolean(c)
		if err != nil {
			return err
		}
		v = Text(s)
	case '{', '[':
		return decodeErrorf("%s: value is %s; a field takes a string, number, boolean or null", r.at, kind(c))
	default: // a number, kept as written
		s, err := r.number()
		if err != nil {
			return err
		}
		v = Text(s)
	}
	// The field is written in place, member by member: an append of a
	// Field value copied it with typedmemmove, whose bulk write barrier
	// cost a third of field while the collector ran.
	n := len(r.fields)
	if n == cap(r.fields) {
		r.fields = slices.Grow(r.fields, 1)
	}
	r.fields = r.fields[:n+1]
	r.fields[n].Name, r.fields[n].Value = name, v
	if n < foldMapAt {
		r.folds[n] = key
	}
	return nil
}

// literal reads the literal lit at r.pos.
func (r *reader) literal(lit string) error {
	end := validLiteral(r.src, r.pos, lit)
	if end < 0 {
		return errPrefixEnd
	}
	r.pos = end
	return nil
}

// boolean reads the literal true or false at r.pos, whose first byte is c.
func (r *reader) boolean(c byte) (string, error) {
	lit := "false"
	if c == 't' {
		lit = "true"
	}
	return lit, r.literal(lit)
}

// number reads the number at r.pos, kept as written.
func (r *reader) number() (string, error) {
	start := r.pos
	end := validNumber(r.src, start)
	if end < 0 {
		return "", errPrefixEnd
	}
	r.pos = end
	return r.textAt(start, end), nil
}

// startsValue reports whether c can start a JSON value. A walk that fails
// on a value's kind by its first byte checks it: a byte that starts no
// value is a fault of JSON, found first.
func startsValue(c byte) bool {
	switch c {
	case '{', '[', '"', 't', 'f', 'n', '-':
		return true
	}
	return isDigit(c)
}

// str reads the JSON string that starts at r.pos.
func (r *reader) str() (string, error) { return r.knownStr(nil) }

// knownStr reads the JSON string that starts at r.pos, as str does, but
// one spelled as one of known is that string (see known).
func (r *reader) knownStr(known []string) (string, error) {
	from, s, err := r.rawStr()
	if from < 0 {
		return s, err
	}
	return r.known(from, known), nil
}

// known returns the text of the string that rawStr read from from: the
// string of known that it spells, else a substring of the copy of the
// value. So a string that a change does not keep, such as an envelope key,
// does not start the copy (see textAt).
func (r *reader) known(from int, known []string) string {
	to := r.pos - 1
	for _, k := range known {
		if string(r.src[from:to]) == k {
			return k
		}
	}
	return r.textAt(from, to)
}

// textAt returns r.src[from:to] as a string. The first call copies the
// value from from on, once; the others are substrings of that copy (the
// walk only goes forward). So the part of the value before the first
// string a change keeps, such as an envelope's keys, is never copied.
func (r *reader) textAt(from, to int) string {
	if from == to {
		return ""
	}
	if r.textFrom < 0 {
		r.text, r.textFrom = string(r.src[from:]), from
	}
	return r.text[from-r.textFrom : to-r.textFrom]
}

// rawStr reads the JSON string that starts at r.pos, checking it (see
// validString). Without escapes it returns the offset in r.src of its
// text, which ends before the closing quote at r.pos-1; with escapes, -1
// and the text decoded.
func (r *reader) rawStr() (int, string, error) {
	start := r.pos
	end, escaped := validString(r.src, start)
	if end < 0 {
		return -1, "", errPrefixEnd
	}
	r.pos = end
	if !escaped {
		return start + 1, "", nil
	}
	// Let encoding/json decode the escapes.
	raw := r.src[start:end]
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return -1, "", decodeErrorf("%sinvalid JSON string: %v", r.where(r.src), err) // cannot be: the value is valid
	}
	if strings.ContainsRune(s, utf8.RuneError) {
		if u := loneSurrogate(raw); u != "" {
			if r.keyFrom >= 0 {
				return -1, "", decodeErrorf("%s has a lone UTF-16 surrogate %s, which is not valid UTF-8", r.nameAt(r.src), u)
			}
			return -1, "", decodeErrorf("%s: value has a lone UTF-16 surrogate %s, which is not valid UTF-8", r.at, u)
		}
	}
	return -1, s, nil
}

// optionalString reads a value that must be a string or null; null and ""
// mean "not given", and leave *s as it is. A value spelled as *s is
// *s, and one spelled as one of known is that string (see knownStr).
func (r *reader) optionalString(s *string, known ...string) error {
	switch c := r.src[r.pos]; c {
	case 'n':
		return r.literal("null")
	case '"':
		from, v, err := r.rawStr()
		switch {
		case from < 0:
		case string(r.src[from:r.pos-1]) == *s:
			return nil
		default:
			v = r.known(from, known)
		}
		if v != "" {
			*s = v
		}
		return err
	default:
		return decodeErrorf("%s is %s, want a string", r.at, kind(c))
	}
}

// next skips white space and returns the byte at r.pos, or 0 at the end.
// A byte above the space is never white space: one comparison answers
// for the bytes of a compact value.
func (r *reader) next() byte {
	for ; r.pos < len(r.src); r.pos++ {
		switch c := r.src[r.pos]; {
		case c > ' ':
			return c
		case c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return c
		}
	}
	return 0
}

// where prefixes a message about a fault at the walk's position; v is the
// whole record value.
func (r *reader) where(v []byte) string {
	switch {
	case r.keyFrom >= 0:
		return r.nameAt(v) + ": "
	case r.at.key == "":
		return ""
	case r.at.after:
		return "after " + r.at.String() + ": "
	}
	return r.at.String() + ": "
}

// nameAt describes the key that starts at r.keyFrom in the record value v,
// quoted with Go escapes as it is in the source, so that a message stays
// valid UTF-8 when the name is not.
func (r *reader) nameAt(v []byte) string {
	end := r.keyFrom + 1
	for end < len(v) && v[end] != '"' {
		if v[end] == '\\' {
			end++
		}
		end++
	}
	name := strconv.Quote(string(v[r.keyFrom+1 : min(end, len(v))]))
	if r.at.field {
		return "field name " + name
	}
	return "key " + name
}

// foldMapAt is the field count from which duplicate names are found with a
// map instead of comparing with every earlier field.
const foldMapAt = 32

// duplicate returns the earlier field whose name equals name regardless of
// case; key is name's foldKey. Below foldMapAt fields it compares as
// Change.Get does, but only with the names whose key allows a match (two
// ASCII names of different keys differ), which spares strings.EqualFold's
// calls, a tenth of a decode; and a name whose key's bit is not in r.keyBits
// has no such name before it, which spares the loop too. Above it, it
// folds as the batch folds CSV columns (strings.ToLower). The two differ
// only for non-ASCII names, which Salesforce field names never are.
func (r *reader) duplicate(name string, key uint32) (string, bool) {
	if len(r.fields) < foldMapAt {
		bit := ^uint64(0) // a name that is not ASCII may equal any
		if key != 0 {
			bit = 1 << (key * 0x9e3779b1 >> 26) // a bit chosen by the key's top 6 bits once mixed
		}
		seen := r.keyBits
		r.keyBits |= bit
		if seen&bit == 0 {
			return "", false
		}
		for i, k := range r.folds[:len(r.fields)] {
			if (k == key || k == 0 || key == 0) && strings.EqualFold(r.fields[i].Name, name) {
				return r.fields[i].Name, true
			}
		}
		return "", false
	}
	if r.fold == nil {
		r.fold = make(map[string]string, 2*len(r.fields))
		for _, f := range r.fields {
			r.fold[strings.ToLower(f.Name)] = f.Name
		}
	}
	k := strings.ToLower(name)
	if other, ok := r.fold[k]; ok {
		return other, true
	}
	r.fold[k] = name
	return "", false
}

// maxFieldCap bounds the fields allocated before they are read, so that a
// value of many keys that fails early does not allocate for all of them.
// (Salesforce objects have fewer fields; more grow the slice as read.)
const maxFieldCap = 1024

// loc names a key of a record value for messages: an envelope key or a
// field. It is formatted only on failure.
type loc struct {
	key   string
	field bool // key is a field name, not a key of the envelope
	after bool // the key's value has been read
}

func (l loc) String() string {
	if l.field {
		return "field " + strconv.Quote(l.key)
	}
	return strconv.Quote(l.key)
}

// change completes a decoded event: it applies what the operation needs
// (see Decoder).
func (r *reader) change(src Source, f format) (*Change, error) {
	if r.object == "" {
		return nil, decodeErrorf("no object: %s", f.missing("object"))
	}
	if !isAPIName(r.object) {
		return nil, decodeErrorf("object %q is not a Salesforce API name (letters, digits and underscores, starting with a letter)", r.object)
	}
	if r.operation == "" {
		return nil, decodeErrorf("no operation: %s", f.missing("operation"))
	}
	op, ok := ParseOperation(r.operation)
	if !ok {
		return nil, decodeErrorf("unknown operation %q (one of insert, update, upsert, delete, hardDelete)", r.operation)
	}
	fs := r.fields
	if len(fs) == 0 {
		return nil, decodeErrorf("%s has no fields", op)
	}
	c := r.into
	if c == nil {
		c = new(Change)
	}
	// Every member of c is written, one by one: a Change value assigned
	// whole was built on the stack and copied (about 100 instructions a
	// decode, and a bulk write barrier while the collector runs).
	// TestDecodeReusingLeavesNothingStale fails when one is left.
	c.Object, c.Operation, c.ExternalIDField, c.Fields, c.Source = r.object, op, "", fs, src
	switch op {
	case Insert:
		c.ExternalIDField = r.externalID
	case Upsert:
		ext := r.externalID
		if ext == "" {
			return nil, decodeErrorf("upsert needs an external id field: %s", f.missing("externalIdField"))
		}
		i := fieldIndex(fs, ext)
		switch {
		case i < 0:
			return nil, decodeErrorf("upsert by %s has no field %q", ext, ext)
		case fs[i].Value.Null:
			return nil, decodeErrorf("field %q: upsert by %s needs a value, got null", fs[i].Name, ext)
		case strings.EqualFold(ext, "Id") && !isRecordID(fs[i].Value.Text):
			return nil, badID(fs[i])
		}
		c.ExternalIDField = ext
	case Update, Delete, HardDelete:
		i := fieldIndex(fs, "Id")
		if op.IsDelete() && i < 0 && r.externalID != "" && !strings.EqualFold(r.externalID, "Id") {
			if j := fieldIndex(fs, r.externalID); j >= 0 {
				return deleteByExternalID(op, r.object, fs[j], src)
			}
		}
		switch {
		case i < 0:
			return nil, decodeErrorf("%s needs field \"Id\", which is missing", op)
		case fs[i].Value.Null:
			return nil, decodeErrorf("field %q: %s needs a record Id, got null", fs[i].Name, op)
		case !isRecordID(fs[i].Value.Text):
			return nil, badID(fs[i])
		}
		if op.IsDelete() {
			fs[0] = fs[i]
			c.Fields = fs[:1]
		}
	}
	return c, nil
}

// newFields returns an empty slice for the fields of the object whose '{'
// has been read: the array of the Change decoded into when it has room
// (its old fields cleared, so that they pin nothing), else a new one. Its
// room is the colons that follow, which are at least the object's keys (a
// colon in a string or after the object counts too): one count of bytes,
// much cheaper than a slice that grows.
func (r *reader) newFields() []Field {
	n := min(bytes.Count(r.src[r.pos:], colon), maxFieldCap)
	if r.into != nil && cap(r.into.Fields) >= n {
		fs := r.into.Fields[:cap(r.into.Fields)]
		clear(fs)
		return fs[:0]
	}
	return make([]Field, 0, n)
}

func badID(f Field) error {
	return decodeErrorf("field %q: %q is not a Salesforce record Id (15 or 18 letters and digits)", f.Name, f.Value.Text)
}

// fieldIndex returns the index of the field named name (regardless of
// case), or -1.
func fieldIndex(fs []Field, name string) int {
	for i, f := range fs {
		if sameName(f.Name, name) {
			return i
		}
	}
	return -1
}

var colon = []byte{':'}

// kind describes a JSON value by its first byte, for messages.
func kind(first byte) string {
	switch first {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// firstInvalidUTF8 returns the offset of the first byte of b that does not
// start a valid UTF-8 sequence.
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// loneSurrogate returns the first \u escape in the JSON text b that is a
// UTF-16 surrogate without its pair, or "". encoding/json turns such an
// escape into U+FFFD without an error; b is valid JSON.
func loneSurrogate(b []byte) string {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		i++ // the escaped byte; the loop steps over it
		if i+4 >= len(b) || b[i] != 'u' {
			continue
		}
		u := hex4(b[i+1 : i+5])
		switch {
		case 0xD800 <= u && u < 0xDC00:
			if i+10 < len(b) && b[i+5] == '\\' && b[i+6] == 'u' {
				if low := hex4(b[i+7 : i+11]); 0xDC00 <= low && low < 0xE000 {
					i += 10
					continue
				}
			}
			return string(b[i-1 : i+5])
		case 0xDC00 <= u && u < 0xE000:
			return string(b[i-1 : i+5])
		}
		i += 4
	}
	return ""
}

// hex4 decodes four hex digits (valid, as the JSON has been checked).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
