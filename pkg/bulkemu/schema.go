package bulkemu

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
)

// FieldType is the Salesforce SOAP type of a field, as describe reports it.
type FieldType string

// The field types the emulator understands. Values are validated per type on
// insert, update and upsert; see validate.go.
const (
	TypeID        FieldType = "id"
	TypeString    FieldType = "string"
	TypeTextArea  FieldType = "textarea"
	TypePicklist  FieldType = "picklist"
	TypePhone     FieldType = "phone"
	TypeEmail     FieldType = "email"
	TypeURL       FieldType = "url"
	TypeBoolean   FieldType = "boolean"
	TypeInt       FieldType = "int"
	TypeDouble    FieldType = "double"
	TypeCurrency  FieldType = "currency"
	TypePercent   FieldType = "percent"
	TypeDate      FieldType = "date"
	TypeDateTime  FieldType = "datetime"
	TypeReference FieldType = "reference"
)

// Field describes one field of an sObject. The zero value of the optional
// attributes means what a custom text field means in Salesforce: nillable,
// createable, updateable, not unique, not an external id.
type Field struct {
	Name     string    `yaml:"name"`
	Label    string    `yaml:"label"`
	Type     FieldType `yaml:"type"`
	Length   int       `yaml:"length"`   // maximum characters for text types; 0 means 255
	Required bool      `yaml:"required"` // not nillable and must be given on create
	// ExternalID marks an indexed external id; upsert and relationship
	// columns may use it. External ids are unique and compared
	// case-insensitively, as Salesforce does for text external ids by default.
	ExternalID bool `yaml:"external_id"`
	Unique     bool `yaml:"unique"`
	// ReferenceTo names the parent object of a reference field, and
	// RelationshipName the name used in relationship columns
	// (Account.External_Id__c). Both are empty for other types.
	ReferenceTo      string `yaml:"reference_to"`
	RelationshipName string `yaml:"relationship_name"`
	ReadOnly         bool   `yaml:"read_only"` // neither createable nor updateable (Id, CreatedDate)
	// Values are a picklist's values, and Restricted makes them the only
	// ones it takes: another fails with
	// INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST. Values match case-sensitively.
	// Both are empty for other types and for unrestricted picklists.
	Values     []string `yaml:"values"`
	Restricted bool     `yaml:"restricted"`

	index int // position in Object.Fields; the record's value slot
}

// Object describes an sObject: its API name, its three-character key prefix
// and its fields. Field names are matched case-insensitively, as Salesforce
// matches CSV headers.
type Object struct {
	Name      string   `yaml:"name"`
	Label     string   `yaml:"label"`
	KeyPrefix string   `yaml:"key_prefix"`
	Fields    []*Field `yaml:"fields"`

	byName       map[string]*Field // lower-case name → field
	byRelation   map[string]*Field // lower-case relationship name → reference field
	externalIDs  []*Field
	requiredOnes []*Field
}

// Field returns the field named name (any case), or nil.
func (o *Object) Field(name string) *Field { return o.byName[strings.ToLower(name)] }

// Relationship returns the reference field whose relationship name is name
// (any case), or nil.
func (o *Object) Relationship(name string) *Field { return o.byRelation[strings.ToLower(name)] }

// Schema is the set of objects of an emulated org. It is built once and then
// only read, so it is safe for concurrent use.
type Schema struct {
	objects map[string]*Object // lower-case name → object
	byKey   map[string]*Object // key prefix → object
}

// Object returns the object named name (any case), or nil.
func (s *Schema) Object(name string) *Object { return s.objects[strings.ToLower(name)] }

// Objects returns the objects sorted by name.
func (s *Schema) Objects() []*Object {
	out := make([]*Object, 0, len(s.objects))
	for _, o := range s.objects {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// standardFields are the fields every object has. Id comes first so that its
// value slot is 0.
func standardFields() []*Field {
	return []*Field{
		{Name: "Id", Label: "Record ID", Type: TypeID, Length: 18, ReadOnly: true},
		{Name: "IsDeleted", Label: "Deleted", Type: TypeBoolean, ReadOnly: true},
		{Name: "CreatedDate", Label: "Created Date", Type: TypeDateTime, ReadOnly: true},
		{Name: "LastModifiedDate", Label: "Last Modified Date", Type: TypeDateTime, ReadOnly: true},
		{Name: "SystemModstamp", Label: "System Modstamp", Type: TypeDateTime, ReadOnly: true},
	}
}

func externalID() *Field {
	return &Field{Name: "External_Id__c", Label: "External Id", Type: TypeString, Length: 255, ExternalID: true, Unique: true}
}

func accountRef() *Field {
	return &Field{Name: "AccountId", Label: "Account ID", Type: TypeReference, ReferenceTo: "Account", RelationshipName: "Account"}
}

// DefaultSchema returns the org every emulator starts with: Account, Contact,
// Opportunity and Lead, each with the unique, case-insensitive external id
// External_Id__c. The README lists their fields.
func DefaultSchema() *Schema {
	s, err := NewSchema([]*Object{
		{Name: "Account", Label: "Account", KeyPrefix: "001", Fields: []*Field{
			{Name: "Name", Label: "Account Name", Type: TypeString, Length: 255, Required: true},
			externalID(),
			{Name: "AccountNumber", Label: "Account Number", Type: TypeString, Length: 40},
			{Name: "Type", Label: "Account Type", Type: TypePicklist, Length: 255},
			{Name: "Industry", Label: "Industry", Type: TypePicklist, Length: 255},
			{Name: "AnnualRevenue", Label: "Annual Revenue", Type: TypeCurrency},
			{Name: "NumberOfEmployees", Label: "Employees", Type: TypeInt},
			{Name: "Phone", Label: "Account Phone", Type: TypePhone, Length: 40},
			{Name: "Website", Label: "Website", Type: TypeURL, Length: 255},
			{Name: "Description", Label: "Account Description", Type: TypeTextArea, Length: 32000},
			{Name: "BillingStreet", Label: "Billing Street", Type: TypeTextArea, Length: 255},
			{Name: "BillingCity", Label: "Billing City", Type: TypeString, Length: 40},
			{Name: "BillingState", Label: "Billing State/Province", Type: TypeString, Length: 80},
			{Name: "BillingPostalCode", Label: "Billing Zip/Postal Code", Type: TypeString, Length: 20},
			{Name: "BillingCountry", Label: "Billing Country", Type: TypeString, Length: 80},
			{Name: "ShippingCity", Label: "Shipping City", Type: TypeString, Length: 40},
			{Name: "ParentId", Label: "Parent Account ID", Type: TypeReference, ReferenceTo: "Account", RelationshipName: "Parent"},
		}},
		{Name: "Contact", Label: "Contact", KeyPrefix: "003", Fields: []*Field{
			{Name: "FirstName", Label: "First Name", Type: TypeString, Length: 40},
			{Name: "LastName", Label: "Last Name", Type: TypeString, Length: 80, Required: true},
			externalID(),
			accountRef(),
			{Name: "Email", Label: "Email", Type: TypeEmail, Length: 80},
			{Name: "Phone", Label: "Business Phone", Type: TypePhone, Length: 40},
			{Name: "MobilePhone", Label: "Mobile Phone", Type: TypePhone, Length: 40},
			{Name: "Title", Label: "Title", Type: TypeString, Length: 128},
			{Name: "Department", Label: "Department", Type: TypeString, Length: 80},
			{Name: "Birthdate", Label: "Birthdate", Type: TypeDate},
			{Name: "HasOptedOutOfEmail", Label: "Email Opt Out", Type: TypeBoolean},
			{Name: "MailingCity", Label: "Mailing City", Type: TypeString, Length: 40},
			{Name: "Description", Label: "Contact Description", Type: TypeTextArea, Length: 32000},
		}},
		{Name: "Opportunity", Label: "Opportunity", KeyPrefix: "006", Fields: []*Field{
			{Name: "Name", Label: "Name", Type: TypeString, Length: 120, Required: true},
			{Name: "StageName", Label: "Stage", Type: TypePicklist, Length: 255, Required: true},
			{Name: "CloseDate", Label: "Close Date", Type: TypeDate, Required: true},
			externalID(),
			accountRef(),
			{Name: "Amount", Label: "Amount", Type: TypeCurrency},
			{Name: "Probability", Label: "Probability (%)", Type: TypePercent},
			{Name: "Type", Label: "Opportunity Type", Type: TypePicklist, Length: 255},
			{Name: "LeadSource", Label: "Lead Source", Type: TypePicklist, Length: 255},
			{Name: "IsPrivate", Label: "Private", Type: TypeBoolean},
			{Name: "Description", Label: "Description", Type: TypeTextArea, Length: 32000},
		}},
		{Name: "Lead", Label: "Lead", KeyPrefix: "00Q", Fields: []*Field{
			{Name: "FirstName", Label: "First Name", Type: TypeString, Length: 40},
			{Name: "LastName", Label: "Last Name", Type: TypeString, Length: 80, Required: true},
			{Name: "Company", Label: "Company", Type: TypeString, Length: 255, Required: true},
			externalID(),
			{Name: "Email", Label: "Email", Type: TypeEmail, Length: 80},
			{Name: "Phone", Label: "Phone", Type: TypePhone, Length: 40},
			{Name: "Status", Label: "Status", Type: TypePicklist, Length: 255},
			{Name: "Industry", Label: "Industry", Type: TypePicklist, Length: 255},
			{Name: "LeadSource", Label: "Lead Source", Type: TypePicklist, Length: 255},
			{Name: "AnnualRevenue", Label: "Annual Revenue", Type: TypeCurrency},
			{Name: "NumberOfEmployees", Label: "Employees", Type: TypeInt},
			{Name: "Title", Label: "Title", Type: TypeString, Length: 128},
		}},
	})
	if err != nil {
		panic(err) // the default schema is a constant; a failure is a programming error
	}
	return s
}

// NewSchema checks objects and builds a schema from them. It adds the
// standard fields (Id, IsDeleted, CreatedDate, LastModifiedDate,
// SystemModstamp) to every object, and fills in labels and lengths.
func NewSchema(objects []*Object) (*Schema, error) {
	s := &Schema{objects: map[string]*Object{}, byKey: map[string]*Object{}}
	for _, o := range objects {
		if err := s.add(o); err != nil {
			return nil, err
		}
	}
	for _, o := range s.objects {
		for _, f := range o.Fields {
			if f.Type == TypeReference && s.Object(f.ReferenceTo) == nil {
				return nil, fmt.Errorf("object %s: field %s refers to unknown object %q", o.Name, f.Name, f.ReferenceTo)
			}
		}
	}
	return s, nil
}

func (s *Schema) add(o *Object) error {
	if o.Name == "" {
		return fmt.Errorf("object without a name")
	}
	if len(o.KeyPrefix) != 3 {
		return fmt.Errorf("object %s: key_prefix must have 3 characters, got %q", o.Name, o.KeyPrefix)
	}
	if s.objects[strings.ToLower(o.Name)] != nil {
		return fmt.Errorf("object %s defined twice", o.Name)
	}
	if other := s.byKey[o.KeyPrefix]; other != nil {
		return fmt.Errorf("object %s: key prefix %s already used by %s", o.Name, o.KeyPrefix, other.Name)
	}
	if o.Label == "" {
		o.Label = o.Name
	}
	o.Fields = append(standardFields(), o.Fields...)
	o.byName = map[string]*Field{}
	o.byRelation = map[string]*Field{}
	for i, f := range o.Fields {
		if err := checkField(o, f); err != nil {
			return err
		}
		key := strings.ToLower(f.Name)
		if o.byName[key] != nil {
			return fmt.Errorf("object %s: field %s defined twice", o.Name, f.Name)
		}
		f.index = i
		o.byName[key] = f
		if f.RelationshipName != "" {
			o.byRelation[strings.ToLower(f.RelationshipName)] = f
		}
		if f.ExternalID {
			o.externalIDs = append(o.externalIDs, f)
		}
		if f.Required {
			o.requiredOnes = append(o.requiredOnes, f)
		}
	}
	s.objects[strings.ToLower(o.Name)] = o
	s.byKey[o.KeyPrefix] = o
	return nil
}

func checkField(o *Object, f *Field) error {
	if f.Name == "" {
		return fmt.Errorf("object %s: field without a name", o.Name)
	}
	if f.Label == "" {
		f.Label = f.Name
	}
	switch f.Type {
	case TypeString, TypeTextArea, TypePicklist, TypePhone, TypeEmail, TypeURL:
		if f.Length == 0 {
			f.Length = 255
		}
	case TypeReference:
		if f.ReferenceTo == "" {
			return fmt.Errorf("object %s: reference field %s needs reference_to", o.Name, f.Name)
		}
		if f.RelationshipName == "" {
			f.RelationshipName = strings.TrimSuffix(strings.TrimSuffix(f.Name, "Id"), "__c")
			if strings.HasSuffix(f.Name, "__c") {
				f.RelationshipName += "__r"
			}
		}
		f.Length = 18
	case TypeID, TypeBoolean, TypeInt, TypeDouble, TypeCurrency, TypePercent, TypeDate, TypeDateTime:
	case "":
		return fmt.Errorf("object %s: field %s has no type", o.Name, f.Name)
	default:
		return fmt.Errorf("object %s: field %s has unknown type %q", o.Name, f.Name, f.Type)
	}
	if (f.Restricted || len(f.Values) > 0) && f.Type != TypePicklist {
		return fmt.Errorf("object %s: field %s of type %s cannot have picklist values", o.Name, f.Name, f.Type)
	}
	if f.Restricted && len(f.Values) == 0 {
		return fmt.Errorf("object %s: restricted picklist %s needs values", o.Name, f.Name)
	}
	if f.ExternalID {
		switch f.Type {
		case TypeString, TypeEmail, TypeInt, TypeDouble:
		default:
			return fmt.Errorf("object %s: field %s of type %s cannot be an external id", o.Name, f.Name, f.Type)
		}
	}
	return nil
}

// orgFile is the shape of the --org YAML file.
type orgFile struct {
	Objects []*Object `yaml:"objects"`
}

// LoadSchemaFile reads an org description (YAML) and returns the default
// schema extended by it: objects named like a default object get the extra
// fields, other objects are added as custom objects. Unknown keys are errors.
//
//	objects:
//	  - name: Invoice__c
//	    key_prefix: a01
//	    fields:
//	      - {name: Number__c, type: string, length: 20, external_id: true, unique: true}
//	      - {name: Account__c, type: reference, reference_to: Account}
//	  - name: Account
//	    fields:
//	      - {name: Tier__c, type: picklist}
func LoadSchemaFile(path string) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f orgFile
	if err := yaml.Load(b, &f, yaml.WithKnownFields()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	base := DefaultSchema()
	var objects []*Object
	for _, o := range base.Objects() {
		objects = append(objects, &Object{Name: o.Name, Label: o.Label, KeyPrefix: o.KeyPrefix, Fields: o.Fields[len(standardFields()):]})
	}
	for _, extra := range f.Objects {
		merged := false
		for _, o := range objects {
			if strings.EqualFold(o.Name, extra.Name) {
				o.Fields = append(o.Fields, extra.Fields...)
				merged = true
			}
		}
		if !merged {
			objects = append(objects, extra)
		}
	}
	s, err := NewSchema(objects)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
