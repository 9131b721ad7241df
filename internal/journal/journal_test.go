package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRangesAndEntries(t *testing.T) {
	got := Ranges([]int64{7, 3, 4, 5, 9, 3, 10, 1})
	want := [][2]int64{{1, 1}, {3, 5}, {7, 7}, {9, 10}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Ranges = %v, want %v", got, want)
	}
	e := Entry{JobID: "7508c0000000001AAA", Topic: "crm.accounts", Partition: 2, Offsets: got}
	for off, in := range map[int64]bool{1: true, 2: false, 4: true, 8: false, 10: true, 11: false} {
		if e.Contains(off) != in {
			t.Errorf("Contains(%d) = %v", off, !in)
		}
	}
	var all []int64
	e.Each(func(o int64) { all = append(all, o) })
	if !reflect.DeepEqual(all, []int64{1, 3, 4, 5, 7, 9, 10}) {
		t.Errorf("Each gave %v", all)
	}
	if k := string(e.Key()); k != "7508c0000000001AAA/crm.accounts/2" {
		t.Errorf("key %s", k)
	}
	nojob := Entry{Topic: "t", Partition: 0, Offsets: [][2]int64{{42, 43}}}
	if k := string(nojob.Key()); k != "nojob-42/t/0" {
		t.Errorf("key of results without a job: %s", k)
	}
}

// Read gives the last word on each slice in the order the words were
// written, the latest last: a slice written again moves to the end, one
// cleared by a tombstone is gone, slices of other partitions are left out.
func TestReadGivesEntriesInTheOrderOfTheirLastWord(t *testing.T) {
	ctx := context.Background()
	const topic = "bulkstream.journal"
	seeds, cl := journalBroker(t, topic, nil)
	entry := func(job string, partition int32, state string, offsets ...[2]int64) *Entry {
		return &Entry{JobID: job, Topic: "t", Partition: partition, State: state, Offsets: offsets}
	}
	var records []*kgo.Record
	for i := range 10 {
		records = append(records, entry(fmt.Sprintf("job-%d", i), 0, Open, [2]int64{int64(i), int64(i)}).Record(topic))
	}
	records = append(records,
		entry("job-3", 0, Closed).Record(topic), // every row of job-3 retried
		entry("job-0", 0, Closed, [2]int64{0, 0}).Record(topic),
		&kgo.Record{Topic: topic, Key: entry("job-5", 0, Open).Key()}, // cleared
		entry("job-9", 1, Open, [2]int64{0, 0}).Record(topic),         // another partition
	)
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	entries, err := Read(ctx, seeds, topic, map[string][]int32{"t": {0}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.JobID+" "+e.State)
	}
	want := []string{"job-1 open", "job-2 open", "job-4 open", "job-6 open", "job-7 open", "job-8 open", "job-9 open", "job-3 closed", "job-0 closed"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read gave\n%v\nwant\n%v", got, want)
	}
	if len(entries[7].Offsets) != 0 || string(entries[7].Key()) != "job-3/t/0" {
		t.Errorf("the slice closed empty reads %+v, key %s", *entries[7], entries[7].Key())
	}
}

// Entries written before slices were kept open with their published
// offsets have none, and an entry without any is written as they were: an
// older version reads it as before.
func TestEntriesWithoutPublishedOffsetsAreAsBefore(t *testing.T) {
	var old Entry
	if err := json.Unmarshal([]byte(`{"jobId":"J","topic":"t","partition":0,"state":"open","offsets":[[0,9]]}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Published != nil {
		t.Errorf("an older entry reads as published %v", old.Published)
	}
	e := Entry{JobID: "J", Topic: "t", State: Open, Offsets: [][2]int64{{0, 9}}}
	if v := string(e.Record("j").Value); v != `{"jobId":"J","topic":"t","partition":0,"state":"open","offsets":[[0,9]]}` {
		t.Errorf("an entry without published offsets is written %s", v)
	}
	e.Published = [][2]int64{{0, 4}}
	if v := string(e.Record("j").Value); v != `{"jobId":"J","topic":"t","partition":0,"state":"open","offsets":[[0,9]],"published":[[0,4]]}` {
		t.Errorf("an entry with published offsets is written %s", v)
	}
}

// journalBroker starts a broker of one node (with opts) and creates the
// journal topic on it; it returns the client options of the broker (with
// clientOpts) for Read, and a client of them, closed with the broker when
// t ends.
func journalBroker(t *testing.T, topic string, opts []kfake.Opt, clientOpts ...kgo.Opt) ([]kgo.Opt, *kgo.Client) {
	t.Helper()
	cluster, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	seeds := append([]kgo.Opt{kgo.SeedBrokers(cluster.ListenAddrs()...)}, clientOpts...)
	cl, err := kgo.NewClient(seeds...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := Create(context.Background(), cl, topic, 1); err != nil {
		t.Fatal(err)
	}
	return seeds, cl
}
