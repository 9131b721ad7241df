package bulkemu

import (
	"strings"
)

// csvColumn is one header cell of an ingest CSV, resolved against the object.
type csvColumn struct {
	name  string // as uploaded
	field *Field // the field written; for a relationship column, the reference field
	// parentField is set for relationship columns (Account.External_Id__c):
	// the parent's indexed field whose value identifies the parent.
	parentField *Field
	parent      *Object
}

// jobFailure is a problem with the whole upload; the job ends Failed with
// this message as its errorMessage.
type jobFailure string

func (e jobFailure) Error() string { return string(e) }

// maxHeaderChars is Salesforce's limit on the header row.
const maxHeaderChars = 32000

// resolveHeader maps the header of an upload to columns, failing the job as
// Salesforce does for a column it cannot place: "InvalidBatch : Field name
// not found : X". Matching is case-insensitive; a UTF-8 byte order mark is
// not stripped, so it makes the first column unknown, as in Salesforce.
func resolveHeader(s *Schema, o *Object, operation string, header []string) ([]csvColumn, error) {
	if n := len(strings.Join(header, ",")); n > maxHeaderChars {
		return nil, jobFailure("InvalidBatch : The header row is longer than 32,000 characters")
	}
	cols := make([]csvColumn, len(header))
	seen := map[*Field]string{}
	for i, name := range header {
		c, ok := resolveColumn(s, o, name)
		if !ok {
			return nil, jobFailure("InvalidBatch : Field name not found : " + name)
		}
		if prev, dup := seen[c.field]; dup {
			return nil, jobFailure("InvalidBatch : Duplicate field name: " + prev + " and " + name)
		}
		seen[c.field] = name
		if (operation == "delete" || operation == "hardDelete") && c.field.Name != "Id" {
			return nil, jobFailure("InvalidBatch : The '" + operation + "' batch must contain only ids")
		}
		cols[i] = c
	}
	return cols, nil
}

func resolveColumn(s *Schema, o *Object, name string) (csvColumn, bool) {
	if f := o.Field(name); f != nil {
		return csvColumn{name: name, field: f}, true
	}
	rel, path, ok := strings.Cut(name, ".")
	if !ok {
		return csvColumn{}, false
	}
	ref := o.Relationship(rel)
	if ref == nil {
		return csvColumn{}, false
	}
	parent := s.Object(ref.ReferenceTo)
	pf := parent.Field(path)
	if pf == nil || !(pf.ExternalID || pf.Name == "Id") {
		return csvColumn{}, false
	}
	return csvColumn{name: name, field: ref, parentField: pf, parent: parent}, true
}
