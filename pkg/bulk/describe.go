package bulk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ObjectDescription is what Salesforce's sObject describe
// (/services/data/vXX.X/sobjects/{Object}/describe) says about an object
// and its fields, as far as loading data needs it. The permissions are
// those of the user the token belongs to.
type ObjectDescription struct {
	Name       string             `json:"name"` // the API name, in Salesforce's spelling
	Createable bool               `json:"createable"`
	Updateable bool               `json:"updateable"`
	Deletable  bool               `json:"deletable"`
	Fields     []FieldDescription `json:"fields"`
}

// FieldDescription is one field of an ObjectDescription.
type FieldDescription struct {
	Name string `json:"name"`
	// Type is the field's SOAP type as describe spells it: string, id,
	// reference, boolean, int, double, date, datetime, picklist, ...
	Type       string `json:"type"`
	Createable bool   `json:"createable"` // an insert may set it
	Updateable bool   `json:"updateable"` // an update may change it
	// Nillable and DefaultedOnCreate together say whether an insert must
	// give the field: a createable field that is neither is required.
	Nillable          bool `json:"nillable"`
	DefaultedOnCreate bool `json:"defaultedOnCreate"`
	// ExternalID marks an external id field, which an upsert can match
	// records on and a relationship column can name parents by.
	ExternalID bool `json:"externalId"`
	// IDLookup marks a field that can identify a record (Id, external ids,
	// some standard fields such as Name of some objects).
	IDLookup bool `json:"idLookup"`
	// ReferenceTo lists the objects a reference field points to (several
	// for a polymorphic one such as WhoId); empty for other types.
	ReferenceTo []string `json:"referenceTo"`
	// RelationshipName is the name a relationship column uses for a
	// reference field (Account in Account.External_Id__c); empty for other
	// types.
	RelationshipName string `json:"relationshipName"`
}

// Required reports whether an insert must give the field: it is
// createable, not nillable, and Salesforce gives it no default.
func (f *FieldDescription) Required() bool {
	return f.Createable && !f.Nillable && !f.DefaultedOnCreate
}

// Field returns the field named name, compared without case as Salesforce
// matches CSV headers, or nil.
func (d *ObjectDescription) Field(name string) *FieldDescription {
	for i := range d.Fields {
		if strings.EqualFold(d.Fields[i].Name, name) {
			return &d.Fields[i]
		}
	}
	return nil
}

// Relationship returns the reference field whose relationship name is name
// (compared without case), or nil.
func (d *ObjectDescription) Relationship(name string) *FieldDescription {
	for i := range d.Fields {
		if d.Fields[i].RelationshipName != "" && strings.EqualFold(d.Fields[i].RelationshipName, name) {
			return &d.Fields[i]
		}
	}
	return nil
}

// Describe returns the description of object, e.g. Account or Invoice__c.
// An object the org does not have, or that the user cannot see, is an
// *APIError with ErrorCode NOT_FOUND (HTTP 404). The request is retried
// like any read. Describe results change only when the org's schema does;
// callers that describe often should keep them.
func (c *Client) Describe(ctx context.Context, object string) (*ObjectDescription, error) {
	if object == "" {
		return nil, errors.New("describe: empty object name")
	}
	req := &request{endpoint: "describe", method: http.MethodGet, path: c.apiPath("/sobjects/" + url.PathEscape(object) + "/describe"), retry: retryAlways}
	var d ObjectDescription
	if err := c.doJSON(ctx, req, &d); err != nil {
		return nil, fmt.Errorf("describe %s: %w", object, err)
	}
	return &d, nil
}
