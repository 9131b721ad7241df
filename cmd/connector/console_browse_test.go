package main

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// With more dead letters than /api/dead-letters lists, the console lists
// the first 200 a replay would read (in each partition of the dead-letter
// topic, its oldest, from the replay group's position on) and says how
// many the filters keep, so the page can tell that there are more.
func TestConsoleDeadLettersListsTheFirst200(t *testing.T) {
	const listed = 200             // the README's console section: "the first 200 records kept"
	const failures = 2*listed + 50 // more than the list on each partition of the dead-letter topic
	brokers := newCluster(t, "crm.accounts")
	_, sfURL := newSalesforce(t, bulkemu.Options{})
	addr := freeAddr(t)
	path := writeConfig(t, brokers, sfURL, clientCredentials, fmt.Sprintf(`routes:
  - topics: [crm.accounts]
    format: json
    object: Account
    operation: upsert
    external_id_field: External_Id__c
batch:
  max_age: 100ms
http:
  listen: %s
shutdown_grace: 5s
`, addr))
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var records []*kgo.Record
	for i := range failures {
		// Not JSON: each fails with BULKSTREAM_DECODE and gets a dead-letter copy, without a job.
		records = append(records, &kgo.Record{Topic: "crm.accounts", Partition: int32(i % 2), Key: []byte(fmt.Sprint("D-", i)), Value: []byte(`{"External_Id__c":`)})
	}
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr lockedBuffer
	go func() { done <- run(ctx, []string{"run", "--config", path}, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run: exit %d\n%s", code, stderr.String())
		}
	})
	waitReady(t, addr, 30*time.Second, "with the console", &stderr)

	type position struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	var dl struct {
		Kept       int            `json:"kept"`
		PassedOver map[string]int `json:"passedOver"`
		Records    []struct {
			Position  position `json:"position"`
			Original  position `json:"original"`
			ErrorCode string   `json:"errorCode"`
			Key       string   `json:"key"`
		} `json:"records"`
	}
	// Once the dead-letter topic holds every copy, the console lists them.
	adm := kadm.NewClient(cl)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ends, err := adm.ListEndOffsets(context.Background(), "bulkstream.dlq")
		copies := int64(0)
		ends.Each(func(o kadm.ListedOffset) { copies += o.Offset })
		if err == nil && ends.Error() == nil && copies == failures {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead-letter copies after 30s, want %d (%v):\n%s", copies, failures, err, stderr.String())
		}
	}
	getJSON(t, "http://"+addr+"/api/dead-letters", &dl)
	if dl.Kept != failures || len(dl.PassedOver) != 0 {
		t.Errorf("kept %d, passed over %v; want %d kept, none passed over", dl.Kept, dl.PassedOver, failures)
	}
	if len(dl.Records) != listed {
		t.Fatalf("%d records listed of %d kept, want %d", len(dl.Records), dl.Kept, listed)
	}
	// Each partition's records are listed from its first offset on, in
	// order, without a gap: the oldest, as a replay would read them.
	next := map[int32]int64{}
	originals := map[position]bool{}
	for i, r := range dl.Records {
		if r.Position.Topic != "bulkstream.dlq" || r.Position.Offset != next[r.Position.Partition] || r.ErrorCode != "BULKSTREAM_DECODE" ||
			r.Original.Topic != "crm.accounts" || r.Key == "" || originals[r.Original] {
			t.Fatalf("record %d: %+v, want offset %d of its partition", i, r, next[r.Position.Partition])
		}
		next[r.Position.Partition]++
		originals[r.Original] = true
	}
}
