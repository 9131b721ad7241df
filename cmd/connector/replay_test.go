package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// `connector replay`: a dry run lists what the filters keep, counts what
// they pass over and why, and changes nothing; the replay sends those
// records to Salesforce and exits, carrying the others forward; a second
// replay finds nothing left for its filter, and a replay with another
// filter still finds what the first ones passed over.
func TestReplayCommand(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "crm.accounts", "bulkstream.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	emu := bulkemu.New(bulkemu.Options{ClientID: "app", ClientSecret: "s3cret"})
	sf := httptest.NewServer(emu)
	defer sf.Close()
	cfg := fmt.Sprintf(`kafka:
  brokers: [%s]
  group: replay-test
salesforce:
  login_url: %s
  auth:
    flow: client_credentials
    client_id: app
    client_secret: s3cret
routes:
  - topics: [crm.accounts]
    format: json
    object: Account
    operation: upsert
    external_id_field: External_Id__c
batch:
  max_age: 100ms
shutdown_grace: 5s
`, cluster.ListenAddrs()[0], sf.URL)
	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dead := func(offset int, code, ext string) *kgo.Record {
		return &kgo.Record{Topic: "bulkstream.dlq", Key: []byte(ext), Value: []byte(fmt.Sprintf(`{"External_Id__c":%q,"Name":"Replayed %s"}`, ext, ext)),
			Headers: []kgo.RecordHeader{{Key: "__connect.errors.topic", Value: []byte("crm.accounts")}, {Key: "__connect.errors.partition", Value: []byte("0")},
				{Key: "__connect.errors.offset", Value: []byte(fmt.Sprint(offset))}, {Key: "sf.error.code", Value: []byte(code)}}}
	}
	// A copy cut to fit the dead-letter topic: what is left is a valid
	// upsert, which the replay must not send as if it were the original.
	cut := dead(6, "UNABLE_TO_LOCK_ROW", "R-4")
	cut.Headers = append(cut.Headers, kgo.RecordHeader{Key: "bulkstream.truncated", Value: []byte("value")})
	if err := cl.ProduceSync(context.Background(), dead(3, "UNABLE_TO_LOCK_ROW", "R-1"), dead(4, "DUPLICATE_VALUE", "R-2"),
		dead(5, "UNABLE_TO_LOCK_ROW", "R-3"), cut).FirstErr(); err != nil {
		t.Fatal(err)
	}

	replay := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"replay", "--config", path, "--from", "bulkstream.dlq"}, args...), &stdout, &stderr); code != 0 {
			t.Fatalf("replay %v: exit %d\n%s", args, code, stderr.String())
		}
		return stdout.String()
	}
	out := replay("--dry-run", "--error-code", "UNABLE_TO_LOCK_ROW")
	if !strings.Contains(out, "bulkstream.dlq/0/0\tfrom crm.accounts/0/3\tUNABLE_TO_LOCK_ROW\tupsert Account") ||
		!strings.Contains(out, "bulkstream.dlq/0/3\tfrom crm.accounts/0/6\tUNABLE_TO_LOCK_ROW\t? ?\tkey \"R-4\"\ttruncated copy (bulkstream.truncated: value): fails with BULKSTREAM_TRUNCATED") ||
		!strings.Contains(out, "3 records would be replayed") || strings.Contains(out, "R-2") ||
		!strings.Contains(out, "1 records passed over (1 by --error-code UNABLE_TO_LOCK_ROW)") {
		t.Errorf("dry run:\n%s", out)
	}
	if n := len(emu.Records("Account")); n != 0 {
		t.Fatalf("the dry run wrote %d accounts", n)
	}
	if out := replay("--error-code", "UNABLE_TO_LOCK_ROW"); !strings.Contains(out, "replayed 3 of 4 dead-letter records read: 2 succeeded, 1 failed") {
		t.Errorf("replay: %s", out)
	}
	if n := len(emu.Records("Account")); n != 2 {
		t.Errorf("%d accounts after the replay, want 2 (not the truncated R-4)", n)
	}
	// What is left is R-2, carried forward, and the first replay's new
	// copy of R-4, failed with BULKSTREAM_TRUNCATED: the filter passes
	// over both.
	if out := replay("--error-code", "UNABLE_TO_LOCK_ROW"); !strings.Contains(out, "replayed 0 of 2") {
		t.Errorf("second replay: %s", out)
	}
	if out := replay("--dry-run", "--error-code", "UNABLE_TO_LOCK_ROW"); !strings.Contains(out, "0 records would be replayed") ||
		!strings.Contains(out, "2 records passed over (2 by --error-code UNABLE_TO_LOCK_ROW)") {
		t.Errorf("dry run after the replays:\n%s", out)
	}
	if out := replay("--dry-run"); !strings.Contains(out, "2 records would be replayed") || !strings.Contains(out, `key "R-2"`) {
		t.Errorf("dry run without filters after the replays (R-2 was passed over, and carried forward):\n%s", out)
	}
	if out := replay("--error-code", "DUPLICATE_VALUE"); !strings.Contains(out, "replayed 1 of 2 dead-letter records read: 1 succeeded") {
		t.Errorf("replay of R-2: %s", out)
	}
	if n := len(emu.Records("Account")); n != 3 {
		t.Errorf("%d accounts after replaying R-2, want 3", n)
	}
	if out := replay("--dry-run", "--error-code", "DUPLICATE_VALUE"); !strings.Contains(out, "0 records would be replayed") {
		t.Errorf("dry run after everything:\n%s", out)
	}
	// A copy carried forward by a replay that stopped before its position
	// moved past the record: the dry run counts it apart.
	res := cl.ProduceSync(context.Background(), dead(9, "DUPLICATE_VALUE", "R-9"))
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	carried := dead(9, "DUPLICATE_VALUE", "R-9")
	carried.Headers = append(carried.Headers, kgo.RecordHeader{Key: "bulkstream.carried.from", Value: []byte(fmt.Sprintf("0/%d", res[0].Record.Offset))})
	if err := cl.ProduceSync(context.Background(), carried).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if out := replay("--dry-run", "--error-code", "DUPLICATE_VALUE"); !strings.Contains(out, "1 records would be replayed") ||
		!strings.Contains(out, "1 by being a copy carried forward of a record read before it (dropped)") {
		t.Errorf("dry run with a carried duplicate:\n%s", out)
	}
	if out := replay("--dry-run", "--from", "crm.accounts"); !strings.Contains(out, "0 records would be replayed: the replay group replay-test-replay-crm.accounts has read crm.accounts to its end") {
		t.Errorf("dry run of an empty topic:\n%s", out)
	}
}
