package bulkemu

import (
	"net/http"
)

// describeField is one entry of fields[] in an sObject describe.
type describeField struct {
	Name              string   `json:"name"`
	Label             string   `json:"label"`
	Type              string   `json:"type"`
	Length            int      `json:"length"`
	Nillable          bool     `json:"nillable"`
	Createable        bool     `json:"createable"`
	Updateable        bool     `json:"updateable"`
	ExternalID        bool     `json:"externalId"`
	IDLookup          bool     `json:"idLookup"`
	Unique            bool     `json:"unique"`
	CaseSensitive     bool     `json:"caseSensitive"`
	DefaultedOnCreate bool     `json:"defaultedOnCreate"`
	ReferenceTo       []string `json:"referenceTo"`
	RelationshipName  *string  `json:"relationshipName"`
	// Picklists: their values and whether only those are taken.
	PicklistValues     []picklistValue `json:"picklistValues"`
	RestrictedPicklist bool            `json:"restrictedPicklist"`
}

type picklistValue struct {
	Active       bool   `json:"active"`
	DefaultValue bool   `json:"defaultValue"`
	Label        string `json:"label"`
	Value        string `json:"value"`
}

type describeObject struct {
	Name       string          `json:"name"`
	Label      string          `json:"label"`
	KeyPrefix  string          `json:"keyPrefix"`
	Custom     bool            `json:"custom"`
	Createable bool            `json:"createable"`
	Updateable bool            `json:"updateable"`
	Deletable  bool            `json:"deletable"`
	Queryable  bool            `json:"queryable"`
	Fields     []describeField `json:"fields,omitempty"`
}

func describeOf(o *Object, withFields bool) describeObject {
	d := describeObject{Name: o.Name, Label: o.Label, KeyPrefix: o.KeyPrefix, Custom: len(o.Name) > 3 && o.Name[len(o.Name)-3:] == "__c",
		Createable: true, Updateable: true, Deletable: true, Queryable: true}
	if !withFields {
		return d
	}
	for _, f := range o.Fields {
		df := describeField{Name: f.Name, Label: f.Label, Type: string(f.Type), Length: f.Length,
			Nillable: !f.Required && f.Name != "Id" && f.Type != TypeBoolean, Createable: !f.ReadOnly, Updateable: !f.ReadOnly,
			ExternalID: f.ExternalID, IDLookup: f.ExternalID || f.Name == "Id", Unique: f.Unique,
			DefaultedOnCreate: f.ReadOnly || f.Type == TypeBoolean, ReferenceTo: []string{},
			PicklistValues: []picklistValue{}, RestrictedPicklist: f.Restricted}
		for _, v := range f.Values {
			df.PicklistValues = append(df.PicklistValues, picklistValue{Active: true, Label: v, Value: v})
		}
		if f.Type == TypeReference {
			df.ReferenceTo = []string{f.ReferenceTo}
			name := f.RelationshipName
			df.RelationshipName = &name
		}
		d.Fields = append(d.Fields, df)
	}
	return d
}

// describe serves GET /sobjects/{Object}/describe.
func (e *Emulator) describe(q *request) error {
	o := e.schema.Object(q.seg[1])
	if o == nil {
		return errNotFound
	}
	writeJSON(q.w, http.StatusOK, describeOf(o, true))
	return nil
}

// globalDescribe serves GET /sobjects: every object without its fields.
func (e *Emulator) globalDescribe(q *request) error {
	var out struct {
		Encoding     string           `json:"encoding"`
		MaxBatchSize int              `json:"maxBatchSize"`
		SObjects     []describeObject `json:"sobjects"`
	}
	out.Encoding, out.MaxBatchSize = "UTF-8", 200
	for _, o := range e.schema.Objects() {
		out.SObjects = append(out.SObjects, describeOf(o, false))
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}

// limits serves GET /limits: the org's allocations and what is left of them.
func (e *Emulator) limits(q *request) error {
	limit := func(allowed, used int64) map[string]int64 {
		return map[string]int64{"Max": allowed, "Remaining": max(0, allowed-used)}
	}
	var o orderedJSON
	o.add("DailyApiRequests", limit(e.allocation.Load(), e.requests.Load()))
	o.add("DailyBulkApiBatches", limit(15000, e.batches.Load()))
	o.add("DailyBulkApiRequests", limit(15000, e.batches.Load()))
	o.add("DailyBulkV2QueryFileStorageMB", limit(976562, 0))
	o.add("DailyBulkV2QueryJobs", limit(10000, e.queryJobs.Load()))
	o.add("DataStorageMB", limit(1024, 0))
	o.add("FileStorageMB", limit(1024, 0))
	writeRawJSON(q.w, http.StatusOK, o.bytes())
	return nil
}
