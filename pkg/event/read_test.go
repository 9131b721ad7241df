package event

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The envelope and json formats are walked without a check of the whole
// value first (see reader.read): the walk checks what it reads. Whatever
// the bytes, a decode must give what it gives after the check
// (readChecked): the same change, or the same error in the same words.

// readCases are values at the edges of the walk's checks, and those the
// fuzzer found. go test runs them as the seeds of the fuzz test.
var readCases = []string{
	`{"object": "Account", "fields": {"Name": tru}}`,
	`{"object": "Account", "fields": {"Name": nulx}}`,
	`{"object": "Account", "fields": {"Name": 1e}}`,
	`{"object": "Account", "fields": {"Name": -}}`,
	`{"object": "Account", "fields": {"Name": 01}}`,
	`{"object": "Account", "fields": {"Name": +1}}`,
	`{"object": "Account", "fields": {"Name": "a` + "\x01" + `"}}`,
	`{"object": "Account", "fields": {"Name": "a` + "\xff" + `"}}`,
	`{"object": "Account", "fields": {"Na` + "\xc3" + `": 1}}`,
	`{"object": "Account", "fields": {"Name": "\x"}}`,
	`{"object": "Account", "fields": {"Name": "\u12"}}`,
	`{"object": "Account", "fields": {"Name": {"a": 1}}}`,
	`{"object": "Account", "fields": {"Name": [}}`,
	`{"object": x}`,
	`{"object": tx}`,
	`{"fields": x}`,
	`{"fields": nul}`,
	`{"operation": "upsert"} x`,
	`{"operation": "upsert"}}`,
	`{"object": "Account", "fields": {"A": 1, "A": 2}, x}`,
	`{"bogus": x}`,
	`{"object": "Account", "fields": {"A": 1, "a": x}}`,
	`{"object": "Account", "fields": {"A,": }}`,
	`x`,
	`tru`,
	` -`,
	`{"Name": "Acme", "External_Id__c": "1"` + "\x00",
	`{"Name": "Acme" "External_Id__c": "1"}`,
	`{"Name": "Acme", "External_Id__c": 1.5e3, "Id": null,}`,
	`{"Name" "Acme"}`,
	`{"Name":}`,
}

// FuzzReadChecksAsTheWholeValueCheck decodes any bytes with the envelope
// and json decoders, and after a check of the whole value.
func FuzzReadChecksAsTheWholeValueCheck(f *testing.F) {
	for _, v := range readCases {
		f.Add([]byte(v))
	}
	for _, v := range validCases {
		f.Add([]byte(v))
		f.Add([]byte(`{"object": "Account", "fields": {"Name": ` + v + `}}`))
		f.Add([]byte(`{"object": ` + v + `, "fields": {"Name": "Acme"}}`))
		f.Add([]byte(`{"Name": ` + v + `, "External_Id__c": "1"}`))
	}
	for _, tc := range envelopeCases {
		f.Add([]byte(tc.value))
	}
	for _, tc := range jsonCases {
		f.Add([]byte(tc.value))
	}
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		v, err := os.ReadFile(path)
		f.Add(v)
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if len(v) == 0 {
			return // read answers before it walks
		}
		route := Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"}
		checkRead(t, envelopeFormat, Defaults{}, v)
		checkRead(t, envelopeFormat, route, v)
		checkRead(t, jsonFormat, route, v)
	})
}

// checkRead decodes v as the decoder of format f and d does, and after a
// check of the whole value, and fails if the two differ or if a value that
// json.Valid or utf8.Valid rejects is decoded.
func checkRead(t *testing.T, f format, d Defaults, v []byte) {
	t.Helper()
	got, err := d.decodeJSON(Source{Value: v}, f, TombstonesFail, nil)
	r := reader{object: d.Object, operation: string(d.Operation), externalID: d.ExternalIDField}
	var want *Change
	wantErr := r.readChecked(v, f)
	if wantErr == nil {
		want, wantErr = r.change(Source{Value: v}, f)
	}
	if err == nil && !valid(v) {
		t.Fatalf("%s decoder decoded %q, which is not valid JSON in UTF-8", f, v)
	}
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%s decoder, %q: %v; after a check of the whole value, %v", f, v, err, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Fatalf("%s decoder, %q:\n got %v\nwant %v (after a check of the whole value)", f, v, err, wantErr)
	case err == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("%s decoder, %q:\n got %+v\nwant %+v (after a check of the whole value)", f, v, got, want)
	}
}
