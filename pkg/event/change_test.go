package event

import (
	"strings"
	"testing"
)

// recordKeyCases cover each way a change names its record, and external
// id values and field names whose case folding is not plain ASCII.
var recordKeyCases = []struct {
	name string
	c    Change
	want string
}{
	{"upsert", Change{Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("Name", "x", "External_Id__c", "A-1")}, "external_id__c=a-1"},
	{"upsert, field spelt otherwise", Change{Operation: Upsert, ExternalIDField: "EXTERNAL_ID__C", Fields: fieldList("external_id__c", "ABC")}, "external_id__c=abc"},
	{"upsert, lower case already", Change{Operation: Upsert, ExternalIDField: "ext__c", Fields: fieldList("ext__c", "abc-1")}, "ext__c=abc-1"},
	{"upsert, non-ASCII value", Change{Operation: Upsert, ExternalIDField: "Ext__c", Fields: fieldList("Ext__c", "ÜBER-İ-ǅ-Ω-ẞ")}, "ext__c=über-i-ǆ-ω-ß"},
	{"upsert, non-ASCII field", Change{Operation: Upsert, ExternalIDField: "ÉCOLE__c", Fields: fieldList("école__c", "K")}, "école__c=k"},
	{"upsert, invalid UTF-8", Change{Operation: Upsert, ExternalIDField: "Ext__c", Fields: fieldList("Ext__c", "A\xffB")}, "ext__c=a\ufffdb"},
	{"upsert, null value", Change{Operation: Upsert, ExternalIDField: "Ext__c", Fields: []Field{{Name: "Ext__c", Value: NullValue}}}, ""},
	{"upsert, no value", Change{Operation: Upsert, ExternalIDField: "Ext__c", Fields: fieldList("Name", "x")}, ""},
	{"upsert by Id", Change{Operation: Upsert, ExternalIDField: "id", Fields: fieldList("Id", "001000000000001AAA")}, "id=001000000000001"},
	{"insert with an external id", Change{Operation: Insert, ExternalIDField: "Ext__c", Fields: fieldList("Ext__c", "Q")}, "ext__c=q"},
	{"plain insert", Change{Operation: Insert, Fields: fieldList("Name", "x")}, ""},
	{"update", Change{Operation: Update, Fields: fieldList("ID", "001000000000002aaa", "Name", "x")}, "id=001000000000002"},
	{"update, short Id", Change{Operation: Update, Fields: fieldList("Id", "00100000000")}, ""},
	{"delete by Id", Change{Operation: Delete, Fields: fieldList("Id", "001000000000003")}, "id=001000000000003"},
	{"hardDelete by external id", Change{Operation: HardDelete, ExternalIDField: "Ext__c", Fields: fieldList("Ext__c", "Z-9")}, "ext__c=z-9"},
	{"update ignores its external id field", Change{Operation: Update, ExternalIDField: "Ext__c", Fields: fieldList("Ext__c", "Z", "Id", "001000000000004")}, "id=001000000000004"},
}

func TestRecordKey(t *testing.T) {
	for _, tc := range recordKeyCases {
		if got := tc.c.RecordKey(); got != tc.want {
			t.Errorf("%s: RecordKey = %q, want %q", tc.name, got, tc.want)
		}
		// The definition: the folded field name and value.
		if v, ok := tc.c.Get(tc.c.ExternalIDField); ok && tc.want != "" && !strings.EqualFold(tc.c.ExternalIDField, "Id") &&
			strings.HasPrefix(tc.want, strings.ToLower(tc.c.ExternalIDField)+"=") {
			if want := strings.ToLower(tc.c.ExternalIDField) + "=" + strings.ToLower(v.Text); tc.want != want {
				t.Errorf("%s: case wants %q, strings.ToLower gives %q", tc.name, tc.want, want)
			}
		}
	}
}

// TestAppendLower folds, after bytes already in b, strings shorter and
// longer than the 8 bytes appendLower folds at a time, with each byte value
// at every place, and strings that are not ASCII, as strings.ToLower does.
func TestAppendLower(t *testing.T) {
	for n := range 20 {
		for at := range n {
			for c := range 256 {
				s := []byte(strings.Repeat("aZ", n)[:n])
				s[at] = byte(c)
				if got, want := string(appendLower([]byte("k="), string(s))), "k="+strings.ToLower(string(s)); got != want {
					t.Errorf("appendLower(%q) = %q, want %q", s, got, want)
				}
			}
		}
	}
	for _, s := range []string{"ÜBER-İ-ǅ-Ω-ẞ", "ABCDEFGHÉ", "ÉABCDEFGH", "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`@"} {
		if got, want := string(appendLower([]byte("k="), s)), "k="+strings.ToLower(s); got != want {
			t.Errorf("appendLower(%q) = %q, want %q", s, got, want)
		}
	}
}

func BenchmarkRecordKey(b *testing.B) {
	c := Change{Operation: Upsert, ExternalIDField: "External_Id__c",
		Fields: fieldList("Name", "Acme", "Industry", "Energy", "External_Id__c", "EXT-000123456")}
	b.ReportAllocs()
	for b.Loop() {
		if c.RecordKey() == "" {
			b.Fatal("no key")
		}
	}
}
