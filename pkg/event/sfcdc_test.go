package event

import "testing"

func TestSalesforceCDC(t *testing.T) {
	replica := Defaults{ExternalIDField: "Source_Id__c", Mapping: mustMapping(t, MappingRules{Exclude: []string{"OwnerId", "CleanStatus"}})}
	const accountID = "0015f00002JUXA8AAP"
	upsert := func(object string, fields ...any) *Change {
		return &Change{Object: object, Operation: Upsert, ExternalIDField: "Source_Id__c", Fields: fieldList(fields...)}
	}
	cases := []struct {
		name    string
		d       Defaults
		file    string // under testdata/salesforce_cdc, or
		value   string // inline, or
		nilVal  bool   // a tombstone
		want    *Change
		wantErr string
	}{
		{name: "create: compound address in parts, nulls and audit fields left out", d: replica, file: "create.json",
			want: upsert("Account", "Source_Id__c", accountID, "Name", "Acme", "BillingStreet", "415 Mission Street", "BillingCity", "San Francisco",
				"BillingState", "CA", "BillingPostalCode", "94105", "BillingCountry", "United States", "Website", "www.example.com",
				"AnnualRevenue", "1500000", "NumberOfEmployees", "120")},
		{name: "update in the CometD wrapper: changed fields, nulled fields", d: replica, file: "update.json",
			want: upsert("Account", "Source_Id__c", accountID, "BillingCity", "Lyon", "Phone", nil)},
		{name: "update with every field: only the changed ones", d: replica, file: "update_all_fields.json",
			want: upsert("Account", "Source_Id__c", accountID, "Name", "Acme Corporation", "Industry", nil)},
		{name: "contact: name, address and geolocation parts", d: replica, file: "contact_create.json",
			want: upsert("Contact", "Source_Id__c", "0035f00001AbCdEAAV", "Salutation", "Ms.", "FirstName", "Ada", "LastName", "Lovelace",
				"MailingCity", "London", "MailingCountry", "UK", "Email", "ada@example.com", "Birthdate", "1815-12-10", "HasOptedOutOfEmail", "false",
				"Location__Latitude__s", "51.5072", "Location__Longitude__s", "-0.1276")},
		{name: "undelete upserts", d: replica, file: "undelete.json",
			want: upsert("Account", "Source_Id__c", accountID, "Name", "Acme", "Website", "www.example.com")},
		{name: "delete by external id", d: replica, file: "delete.json",
			want: &Change{Object: "Account", Operation: Delete, ExternalIDField: "Source_Id__c", Fields: fieldList("Source_Id__c", "0015f00002JUXA8AAP")}},
		{name: "delete by Id within one org", d: Defaults{ExternalIDField: "Id"}, file: "delete.json",
			want: &Change{Object: "Account", Operation: Delete, Fields: fieldList("Id", accountID)}},
		{name: "gap event", d: replica, file: "gap_update.json",
			wantErr: "GAP_UPDATE for Account 0015f00002JUXA8AAP: Salesforce sent no field values (a gap in the change stream); the record must be re-read from the source org by its Id and replayed"},
		{name: "gap overflow", d: replica, file: "gap_overflow.json",
			wantErr: "GAP_OVERFLOW: a transaction changed more than 100,000 Account records and Salesforce sent no change events for them; the records changed in it must be re-read from the source org"},
		{name: "bitmaps", d: replica, file: "bitmap.json",
			wantErr: "changedFields, nulledFields and diffFields hold bitmaps (0x650004E0), as the Pub/Sub API's Avro does; decode them to field names first"},
		{name: "several records", d: replica, file: "multi.json",
			wantErr: "the event is about 2 records (recordIds); one event gives one change, so change events about several records are not supported yet"},
		{name: "the route's object overrides entityName", d: Defaults{Object: "Legacy_Account__c", ExternalIDField: "Source_Id__c"}, file: "undelete.json",
			want: upsert("Legacy_Account__c", "Source_Id__c", accountID, "Name", "Acme", "Website", "www.example.com")},
		{name: "an audit field the mapping renames is sent", file: "create.json", d: Defaults{ExternalIDField: "Source_Id__c", Mapping: mustMapping(t, MappingRules{
			Include:   []string{"Name", "CreatedDate"},
			Rename:    map[string]string{"CreatedDate": "Source_Created__c"},
			TypeHints: map[string]TypeHint{"Source_Created__c": HintDateTime}})},
			want: upsert("Account", "Source_Id__c", accountID, "Name", "Acme", "Source_Created__c", "2024-04-26T18:38:05.000Z")},
		{name: "nulled field the body leaves out", d: replica,
			value: `{"ChangeEventHeader": {"entityName": "Account", "recordIds": ["` + accountID + `"], "changeType": "UPDATE", "changedFields": ["Fax"], "nulledFields": ["Fax"]}}`,
			want:  upsert("Account", "Source_Id__c", accountID, "Fax", nil)},
		{name: "no header", d: replica, value: `{"Name": "Acme"}`,
			wantErr: `no "ChangeEventHeader"; a Salesforce change event has one, on its own or in "payload" or "data"."payload"`},
		{name: "header not an object", d: replica, value: `{"ChangeEventHeader": "UPDATE"}`, wantErr: `"ChangeEventHeader" is a string, want an object`},
		{name: "record ids not a list", d: replica, value: `{"ChangeEventHeader": {"changeType": "CREATE", "recordIds": "001"}}`,
			wantErr: `"recordIds" is a string, want an array of strings`},
		{name: "no record id", d: replica, value: `{"ChangeEventHeader": {"entityName": "Account", "changeType": "CREATE", "recordIds": []}}`,
			wantErr: "the ChangeEventHeader has no recordIds"},
		{name: "wildcard record id", d: replica, value: `{"ChangeEventHeader": {"entityName": "Account", "changeType": "UPDATE", "recordIds": ["001*"]}}`,
			wantErr: `record id "001*" is a wildcard, which names every record of a key prefix; such events are not supported`},
		{name: "unknown change type", d: replica, value: `{"ChangeEventHeader": {"entityName": "Account", "changeType": "MERGE", "recordIds": ["` + accountID + `"]}}`,
			wantErr: `unknown changeType "MERGE" (CREATE, UPDATE, DELETE, UNDELETE or a GAP_ event)`},
		{name: "no external id field", d: Defaults{}, file: "create.json",
			wantErr: "no external id field: the route gives none (the field that holds the source org's record Id)"},
		{name: "tombstone", d: replica, nilVal: true, wantErr: "record value is null (a tombstone); the salesforce_cdc format needs a value"},
		{name: "not JSON", d: replica, value: `{"ChangeEventHeader": {`, wantErr: `invalid JSON: the value ends early`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			value := []byte(tc.value)
			switch {
			case tc.file != "":
				value = fixture(t, "salesforce_cdc/"+tc.file)
			case tc.nilVal:
				value = nil
			}
			src := Source{Topic: "sf.accounts", Partition: 0, Offset: 3, Value: value}
			checkChange(t, NewSalesforceCDCDecoder(tc.d), src, tc.want, tc.wantErr)
		})
	}
}

func FuzzSalesforceCDC(f *testing.F) {
	for _, name := range []string{"create.json", "update.json", "update_all_fields.json", "contact_create.json", "delete.json",
		"undelete.json", "gap_update.json", "gap_overflow.json", "bitmap.json", "multi.json"} {
		f.Add(fixture(f, "salesforce_cdc/"+name))
	}
	d := NewSalesforceCDCDecoder(Defaults{ExternalIDField: "Source_Id__c", Mapping: mustMapping(f, MappingRules{
		Rename: map[string]string{"CreatedDate": "Source_Created__c"}, TypeHints: map[string]TypeHint{"Source_Created__c": HintDateTime}})})
	f.Fuzz(func(t *testing.T, value []byte) {
		c, err := d.Decode(Source{Value: value})
		checkOutcome(t, c, err)
	})
}

// BenchmarkDecodeSalesforceCDC decodes a CREATE of an Account: ten fields,
// a compound address, audit fields left out.
func BenchmarkDecodeSalesforceCDC(b *testing.B) {
	benchmarkFormat(b, NewSalesforceCDCDecoder(Defaults{ExternalIDField: "Source_Id__c"}), fixture(b, "salesforce_cdc/create.json"))
}
