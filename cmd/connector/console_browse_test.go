package main

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// With more dead letters than /api/dead-letters lists, the console lists
// the first 200 a replay would read (in each partition of the dead-letter
// topic, its oldest, from the replay group's position on) and says how
// many the filters keep, so the page can tell that there are more.
func TestConsoleDeadLettersListsTheFirst200(t *testing.T) {
	const listed = 200             // the README's console section: "the first 200 records kept"
	const failures = 2*listed + 50 // more than the list on each partition of the dead-letter topic
	var records []*kgo.Record
	for i := range failures {
		// Not JSON: each fails with BULKSTREAM_DECODE and gets a dead-letter copy, without a job.
		records = append(records, &kgo.Record{Topic: "crm.accounts", Partition: int32(i % 2), Key: []byte(fmt.Sprint("D-", i)), Value: []byte(`{"External_Id__c":`)})
	}
	base, _, _ := startConsoleRunOf(t, "", records) // waits for every result, dead-letter copies published with them

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
	getJSON(t, base+"/api/dead-letters", &dl)
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
