package event

import (
	"slices"
	"strings"
)

type salesforceCDCDecoder struct{ d Defaults }

// NewSalesforceCDCDecoder returns a decoder of Salesforce Change Data
// Capture events in JSON, for replication from one org to another. The
// value is the event's payload, a ChangeEventHeader and the record's
// fields, on its own or inside {"payload": ...} or {"data": {"payload":
// ...}} as CometD clients and Kafka source connectors write it:
//
//	{"ChangeEventHeader": {"entityName": "Account", "changeType": "UPDATE",
//	   "recordIds": ["001..."], "changedFields": ["Name", "BillingAddress.City"],
//	   "nulledFields": ["Phone"], ...},
//	 "Name": "Acme", "BillingAddress": {"City": "Paris"}, "LastModifiedDate": ...}
//
// The record id becomes the value of d.ExternalIDField (required; the
// target org's field that holds the source org's Id, or "Id" within one
// org). The object is d.Object, else the header's entityName; d.Operation
// is not used.
//
//   - CREATE, UPDATE and UNDELETE are upserts. An UPDATE sends only the
//     changedFields (all the body's fields if the header lists none);
//     CREATE and UNDELETE leave out fields that are null, which is how a
//     new record has them. nulledFields are sent as null (#N/A).
//   - DELETE deletes: by Id when ExternalIDField is Id, else by external
//     id, which the pipeline resolves to the record's Id.
//   - GAP_CREATE, GAP_UPDATE, GAP_DELETE, GAP_UNDELETE and GAP_OVERFLOW
//     carry no field values: each is a *DecodeError saying that the record
//     must be re-read from the source org.
//
// Compound fields are sent as their parts: Name.FirstName as FirstName,
// BillingAddress.City as BillingCity, Location__c.Latitude as
// Location__Latitude__s; others by their path. The audit fields
// CreatedDate, CreatedById, LastModifiedDate, LastModifiedById and
// SystemModstamp, which no Bulk API job can write, are left out unless the
// mapping renames or includes them. An event about several records (more
// than one recordId) is a *DecodeError, since one event gives one change;
// so is one whose changedFields are Pub/Sub API bitmaps. Then d.Mapping
// applies, and the rules of Decoder. The decoder is safe for concurrent
// use.
func NewSalesforceCDCDecoder(d Defaults) Decoder { return salesforceCDCDecoder{d} }

// auditFields are written by Salesforce itself.
var auditFields = []string{"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"}

// recordIDColumn is the column that carries the record id to the mapping,
// named so that no field of the body can have its name.
const recordIDColumn = "ChangeEventHeader.recordIds"

func (s salesforceCDCDecoder) Decode(src Source) (*Change, error) {
	if src.Value == nil {
		if s.d.Tombstones == TombstonesSkip {
			return nil, skipf("a tombstone (a null value), which the route's tombstones setting skips")
		}
		return nil, tombstoneError(salesforceCDCFormat)
	}
	var r reader
	if err := r.read(src.Value, salesforceCDCFormat); err != nil {
		return nil, err
	}
	payload := cdcPayload(&r.tree)
	if payload == nil {
		return nil, decodeErrorf("no \"ChangeEventHeader\"; a Salesforce change event has one, on its own or in \"payload\" or \"data\".\"payload\"")
	}
	h := payload.member("ChangeEventHeader")
	if h.kind != kindRecord {
		return nil, decodeErrorf("\"ChangeEventHeader\" is %s, want an object", h.describe())
	}
	var head struct {
		entity, changeType                 string
		recordIDs, changed, nulled, diffed []string
	}
	var err error
	for _, f := range []struct {
		key string
		s   *string
		l   *[]string
	}{
		{key: "entityName", s: &head.entity}, {key: "changeType", s: &head.changeType},
		{key: "recordIds", l: &head.recordIDs}, {key: "changedFields", l: &head.changed},
		{key: "nulledFields", l: &head.nulled}, {key: "diffFields", l: &head.diffed},
	} {
		v := h.member(f.key)
		switch {
		case v == nil:
		case f.s != nil:
			*f.s, err = v.optionalText(f.key)
		default:
			*f.l, err = textList(v, f.key)
		}
		if err != nil {
			return nil, err
		}
	}
	object := s.d.Object
	if object == "" {
		object = head.entity
	}
	if strings.HasPrefix(head.changeType, "GAP_") {
		return nil, gapError(head.changeType, head.entity, head.recordIDs)
	}
	for _, l := range [][]string{head.changed, head.nulled, head.diffed} {
		for _, f := range l {
			if strings.HasPrefix(f, "0x") || strings.Contains(f, "-0x") {
				return nil, decodeErrorf("changedFields, nulledFields and diffFields hold bitmaps (%s), as the Pub/Sub API's Avro does; decode them to field names first", f)
			}
		}
	}
	id, err := singleRecordID(head.recordIDs)
	if err != nil {
		return nil, err
	}
	ext := s.d.ExternalIDField
	if ext == "" {
		return nil, decodeErrorf("no external id field: the route gives none (the field that holds the source org's record Id)")
	}
	switch head.changeType {
	case "DELETE":
		if strings.EqualFold(ext, "Id") {
			return finish(salesforceCDCFormat, object, string(Delete), "", []Field{{Name: "Id", Value: Text(id)}}, src)
		}
		return deleteChange(salesforceCDCFormat, object, ext, []Field{{Name: ext, Value: Text(id)}}, src)
	case "CREATE", "UPDATE", "UNDELETE":
	case "":
		return nil, decodeErrorf("the ChangeEventHeader has no changeType")
	default:
		return nil, decodeErrorf("unknown changeType %q (CREATE, UPDATE, DELETE, UNDELETE or a GAP_ event)", head.changeType)
	}
	idNode := node{kind: kindText, text: id}
	cols := make([]column, 1, len(payload.members)+len(head.nulled)+1)
	cols[0] = column{name: recordIDColumn, value: &idNode}
	// The body is the payload's members before and after the header.
	h0 := slices.IndexFunc(payload.members, func(m member) bool { return m.name == "ChangeEventHeader" })
	all := make([]column, 0, len(payload.members))
	for _, part := range [][]member{payload.members[:h0], payload.members[h0+1:]} {
		if all, err = flatten(all, "", &node{kind: kindRecord, members: part}, 0); err != nil {
			return nil, err
		}
	}
	onlyChanged := head.changeType == "UPDATE" && len(head.changed) > 0
	for _, c := range all {
		switch {
		case slices.Contains(auditFields, c.name) && !s.d.Mapping.renames(c.name):
		case slices.Contains(head.nulled, c.name) || slices.Contains(head.nulled, compoundOf(c.name)):
			cols = append(cols, column{name: c.name, value: &nullNode})
		case onlyChanged && !slices.Contains(head.changed, c.name) && !slices.Contains(head.changed, compoundOf(c.name)):
		case head.changeType != "UPDATE" && c.value.kind == kindNull:
		default:
			cols = append(cols, c)
		}
	}
	for _, f := range head.nulled { // nulled fields the body leaves out
		if !hasColumn(all, f) && !slices.Contains(auditFields, f) {
			cols = append(cols, column{name: f, value: &nullNode})
		}
	}
	fs, err := s.d.Mapping.apply(cols, keyColumn{source: recordIDColumn, field: ext}, cdcFieldName)
	if err != nil {
		return nil, err
	}
	return finish(salesforceCDCFormat, object, string(Upsert), ext, fs, src)
}

// cdcPayload finds the event's payload: the value itself, or its "payload",
// or its "data"."payload".
func cdcPayload(root *node) *node {
	for _, n := range []*node{root, root.member("payload"), root.member("data")} {
		if n == nil || n.kind != kindRecord {
			continue
		}
		if n.member("ChangeEventHeader") != nil {
			return n
		}
		if p := n.member("payload"); p != nil && p.kind == kindRecord && p.member("ChangeEventHeader") != nil {
			return p
		}
	}
	return nil
}

func singleRecordID(ids []string) (string, error) {
	switch {
	case len(ids) == 0:
		return "", decodeErrorf("the ChangeEventHeader has no recordIds")
	case len(ids) > 1:
		return "", decodeErrorf("the event is about %d records (recordIds); one event gives one change, so change events about several records are not supported yet", len(ids))
	case strings.Contains(ids[0], "*"):
		return "", decodeErrorf("record id %q is a wildcard, which names every record of a key prefix; such events are not supported", ids[0])
	case !isRecordID(ids[0]):
		return "", decodeErrorf("record id %q is not a Salesforce record Id (15 or 18 letters and digits)", ids[0])
	}
	return ids[0], nil
}

func gapError(changeType, entity string, ids []string) error {
	if changeType == "GAP_OVERFLOW" {
		return decodeErrorf("GAP_OVERFLOW: a transaction changed more than 100,000 %s records and Salesforce sent no change events for them; "+
			"the records changed in it must be re-read from the source org", entity)
	}
	return decodeErrorf("%s for %s %s: Salesforce sent no field values (a gap in the change stream); "+
		"the record must be re-read from the source org by its Id and replayed", changeType, entity, strings.Join(ids, ", "))
}

// compoundOf returns the compound field of a part (BillingAddress for
// BillingAddress.City), or "".
func compoundOf(path string) string {
	c, _, _ := strings.Cut(path, ".")
	if c == path {
		return ""
	}
	return c
}

// cdcFieldName is the object's field for a part of a compound field in a
// change event: Name.FirstName is FirstName, BillingAddress.City
// BillingCity (Address.City is City, as on Lead), Location__c.Latitude
// Location__Latitude__s. Other names stay as they are.
func cdcFieldName(path string) string {
	parent, part, ok := strings.Cut(path, ".")
	switch {
	case !ok || strings.Contains(part, "."):
		return path
	case parent == "Name":
		return part
	case strings.HasSuffix(parent, "Address"):
		return strings.TrimSuffix(parent, "Address") + part
	case strings.HasSuffix(parent, "__c"):
		return strings.TrimSuffix(parent, "__c") + "__" + part + "__s"
	}
	return path
}
