package event

import (
	"testing"
)

// The fixtures under testdata/debezium/{postgresql,mysql,sqlserver} are
// Debezium's own events (see testdata/debezium/README.md). These tests say
// what each becomes in Salesforce.

// customersRoute upserts the documented customers tables to Contact by
// their id.
func customersRoute(t *testing.T) DebeziumOptions {
	return contactRoute(mustMapping(t, MappingRules{
		Rename:  map[string]string{"first_name": "FirstName", "last_name": "LastName", "email": "Email"},
		Exclude: []string{},
	}))
}

func TestDebeziumDocumentedCustomers(t *testing.T) {
	upsert := func(id, first, last, email string) *Change {
		return &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c",
			Fields: fieldList("External_Id__c", id, "FirstName", first, "LastName", last, "Email", email)}
	}
	del := func(id string) *Change {
		return &Change{Object: "Contact", Operation: Delete, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", id)}
	}
	for _, tc := range []struct {
		file string
		want *Change
	}{
		{"postgresql/customers_create", upsert("1", "Anne", "Kretchmar", "annek@noanswer.org")},
		{"postgresql/customers_update", upsert("1", "Anne Marie", "Kretchmar", "annek@noanswer.org")},
		// REPLICA IDENTITY DEFAULT: the before row has the key only.
		{"postgresql/customers_delete", del("1")},
		{"mysql/customers_create", upsert("1004", "Anne", "Kretchmar", "annek@noanswer.org")},
		{"mysql/customers_update", upsert("1004", "Anne Marie", "Kretchmar", "annek@noanswer.org")},
		{"mysql/customers_delete", del("1004")},
		{"sqlserver/customers_create", upsert("1005", "john", "doe", "john.doe@example.org")},
		{"sqlserver/customers_update", upsert("1005", "john", "doe", "noreply@example.org")},
		{"sqlserver/customers_delete", del("1005")},
	} {
		for _, form := range []string{".json", "_noschema.json"} {
			t.Run(tc.file+form, func(t *testing.T) {
				d, err := NewDebeziumDecoder(customersRoute(t))
				if err != nil {
					t.Fatal(err)
				}
				checkChange(t, d, Source{Topic: "customers", Value: fixture(t, "debezium/"+tc.file+form)}, tc.want, "")
			})
		}
	}
}

// The PostgreSQL inventory example's products.weight is a double, which
// JsonConverter's schema names "double".
func TestDebeziumInventoryExample(t *testing.T) {
	products := DebeziumOptions{Defaults: Defaults{Object: "Product2", ExternalIDField: "External_Id__c",
		Mapping: mustMapping(t, MappingRules{Rename: map[string]string{"name": "Name", "description": "Description", "weight": "Weight__c"}})}, KeyField: "id"}
	orders := DebeziumOptions{Defaults: Defaults{Object: "Order", ExternalIDField: "External_Id__c",
		Mapping: mustMapping(t, MappingRules{Rename: map[string]string{"order_date": "EffectiveDate"}, Include: []string{"order_date"},
			TypeHints: map[string]TypeHint{"EffectiveDate": HintDate}})}, KeyField: "id"}
	product := func(id, name, desc, weight string) *Change {
		return &Change{Object: "Product2", Operation: Upsert, ExternalIDField: "External_Id__c",
			Fields: fieldList("External_Id__c", id, "Name", name, "Description", desc, "Weight__c", weight)}
	}
	order := &Change{Object: "Order", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "10001", "EffectiveDate", "2016-01-16")}
	for _, tc := range []struct {
		file string
		o    DebeziumOptions
		want *Change
	}{
		{"products_read_101.json", products, product("101", "scooter", "Small 2-wheel scooter", "3.14")},
		{"products_read_106.json", products, product("106", "hammer", "16oz carpenter's hammer", "1")},
		{"products_read_106_noschema.json", products, product("106", "hammer", "16oz carpenter's hammer", "1.0")}, // as written
		{"orders_read.json", orders, order},
		{"orders_read_noschema.json", orders, order}, // days, read by the hint
	} {
		t.Run(tc.file, func(t *testing.T) {
			d, err := NewDebeziumDecoder(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			checkChange(t, d, Source{Value: fixture(t, "debezium/postgresql/"+tc.file)}, tc.want, "")
		})
	}
}

// A row with a column of each type of each connector's data type mapping
// tables, with the schema: dates, times and timestamps in Salesforce's
// form (UTC, milliseconds), decimals with their scale, doubles without an
// exponent, booleans, bytes in base64.
func TestDebeziumAllTypes(t *testing.T) {
	for _, tc := range []struct {
		db   string
		want []Field
	}{
		{"postgresql", fieldList(
			"External_Id__c", "42", "c_boolean", "true", "c_bit1", "false", "c_bit4", "Cw==",
			"c_smallint", "-32768", "c_integer", "2147483647", "c_bigint", "-9223372036854775808",
			"c_real", "3.5", "c_double", "5.18", "c_double_tiny", "0.0001",
			"c_varchar", "Anne", "c_char", "ab  ", "c_text", "line one\nline two",
			"c_timestamptz", "2024-03-01T12:34:56.789Z", "c_timetz", "12:34:56.789Z", "c_interval", "90061000000",
			"c_bytea", "AAH+/w==", "c_json", `{"a": [1, 2]}`, "c_xml", "<a>b</a>", "c_uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
			"c_ltree", "Top.Science.Astronomy", "c_inet", "192.168.0.1/24", "c_int4range", "[1,10)", "c_enum", "happy",
			"c_hstore", `{"key":"val"}`, "c_date", "2024-02-29", "c_date_old", "1908-01-02",
			"c_time3", "12:34:56.789Z", "c_time6", "12:34:56.789Z",
			"c_timestamp3", "2024-03-01T12:34:56.789Z", "c_timestamp6", "2024-03-01T12:34:56.789Z",
			"c_numeric", "1234.50", "c_numeric_neg", "-5.25", "c_numeric_big", "1234567890123456789012345.6789",
			"c_money", "-1.99", "c_numeric_var", "-0.525",
			"c_point.x", "1.5", "c_point.y", "-2", "c_point.wkb", nil, "c_point.srid", nil, "c_null", nil)},
		{"mysql", fieldList(
			"External_Id__c", "7", "c_bool", "true", "c_bit1", "true", "c_bit10", "AQI=",
			"c_tinyint", "-128", "c_tinyint_unsigned", "255", "c_smallint", "-32768", "c_mediumint", "8388607",
			"c_int", "-2147483648", "c_bigint", "9223372036854775807",
			"c_real", "0.25", "c_float", "1.5", "c_double", "-0.000025",
			"c_char", "a", "c_varchar", "Kretchmar", "c_binary", "QUI=", "c_blob", "iVBORw==", "c_text", "text",
			"c_json", `{"k":1}`, "c_enum", "M", "c_set", "a,c", "c_year", "2024",
			"c_timestamp", "2024-03-01T12:34:56.000Z", "c_date", "2024-02-29", "c_time", "23:59:59.000Z",
			"c_datetime", "2024-03-01T12:34:56.789Z", "c_datetime6", "2024-03-01T12:34:56.789Z",
			"c_decimal", "999.99", "c_decimal0", "-7",
			"c_geometry.wkb", "AQEAAAAAAAAAAADwPwAAAAAAAPA/", "c_geometry.srid", nil)},
		{"sqlserver", fieldList(
			"External_Id__c", "9", "c_bit", "false", "c_tinyint", "255", "c_smallint", "-1", "c_int", "1005", "c_bigint", "1234567890123",
			"c_real", "-0.5", "c_float", "602214076000000000000000",
			"c_char", "x", "c_nvarchar", "Zoë", "c_ntext", "long text", "c_xml", "<r/>",
			"c_datetimeoffset", "2019-06-05T08:11:08.470Z", "c_date", "2019-06-05",
			"c_time3", "10:11:08.470Z", "c_time6", "10:11:08.470Z", "c_time7", "10:11:08.470Z",
			"c_datetime", "2019-06-05T10:11:08.470Z", "c_smalldatetime", "2019-06-05T10:11:00.000Z",
			"c_datetime2_6", "2019-06-05T10:11:08.470Z", "c_datetime2_7", "2019-06-05T10:11:08.470Z",
			"c_decimal", "-1234.567", "c_smallmoney", "215.0000", "c_money", "-92233720368.5477",
			"c_uniqueidentifier", "6F9619FF-8B86-D011-B42D-00C04FC964FF", "c_varbinary", "AQID")},
	} {
		t.Run(tc.db, func(t *testing.T) {
			d, err := NewDebeziumDecoder(DebeziumOptions{Defaults: Defaults{Object: "All_Types__c", ExternalIDField: "External_Id__c"}, KeyField: "id"})
			if err != nil {
				t.Fatal(err)
			}
			checkChange(t, d, Source{Value: fixture(t, "debezium/"+tc.db+"/all_types_create.json")},
				&Change{Object: "All_Types__c", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: tc.want}, "")
		})
	}
}

// Without the schema a value is what its JSON says: numbers as written,
// dates as days and decimals as base64 unless the mapping's type hints say
// otherwise (a hint reads a number as days or milliseconds, so a
// MicroTimestamp needs the schema).
func TestDebeziumAllTypesWithoutSchema(t *testing.T) {
	d, err := NewDebeziumDecoder(DebeziumOptions{Defaults: Defaults{Object: "All_Types__c", ExternalIDField: "External_Id__c",
		Mapping: mustMapping(t, MappingRules{
			Include:   []string{"c_double_tiny", "c_date", "c_timestamp3", "c_boolean", "c_numeric", "c_timestamptz"},
			TypeHints: map[string]TypeHint{"c_date": HintDate, "c_timestamp3": HintDateTime, "c_boolean": HintBoolean, "c_timestamptz": HintDateTime},
		})}, KeyField: "id"})
	if err != nil {
		t.Fatal(err)
	}
	checkChange(t, d, Source{Value: fixture(t, "debezium/postgresql/all_types_create_noschema.json")},
		&Change{Object: "All_Types__c", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList(
			"External_Id__c", "42", "c_boolean", "true", "c_double_tiny", "1.0E-4", "c_timestamptz", "2024-03-01T12:34:56.789Z",
			"c_date", "2024-02-29", "c_timestamp3", "2024-03-01T12:34:56.789Z", "c_numeric", "AeI6")}, "")
}
