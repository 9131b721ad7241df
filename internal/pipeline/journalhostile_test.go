package pipeline

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// A journal whose entries for a partition claim every offset there is, of
// jobs Salesforce does not know: one open entry written as pairs, which
// reads, and one written as runs of two bytes, which the journal refuses
// as malformed. The plan walks the pairs' offsets only from the committed
// offset to the partition's end, and is made at once; the events are
// re-attached to the unknown job, which is gone, and run again: each is
// inserted once and has one result. Before, the plan walked the offsets
// one by one up to the largest int64, holding each in a map.
func TestJournalEntriesClaimingEveryOffsetAreCutToThePartition(t *testing.T) {
	const n = 200
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.createTopic(testJournal, 1<<20)
	every := journal.Entry{JobID: "7508c0000000001AAA", Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: journal.Open,
		Offsets: [][2]int64{{0, math.MaxInt64 - 1}}}
	runs := every
	runs.JobID = "7508c0000000002AAA"
	runsRecord := runs.Record(testJournal)
	runsRecord.Value = []byte(`{"jobId":"7508c0000000002AAA","object":"Account","operation":"insert","attempt":1,"topic":"crm.accounts","partition":0,"state":"open","offsets":"runs:` +
		base64.RawStdEncoding.EncodeToString(binary.AppendUvarint([]byte{0}, math.MaxInt64-1)) + `"}`)
	w.produce(append(insertRecords("H", n), every.Record(testJournal), runsRecord)...)
	opts := w.options("journal-hostile", insertRoute)
	opts.Journal = testJournal
	opts.Batch.MaxRecords, opts.Batch.MaxAge = n, 100*time.Millisecond
	w.runExpectingEachOnce(t, opts, 20*time.Second, n, "H", n)
	w.committedAtEnd("journal-hostile", "crm.accounts")
}

// fill produces tombstones to partition 0 of crm.accounts until it holds n
// records: the plan cuts the journal's offsets to those of records in the
// partition.
func (w *world) fill(n int) {
	w.t.Helper()
	ends, err := kadm.NewClient(w.client()).ListEndOffsets(context.Background(), "crm.accounts")
	if err != nil {
		w.t.Fatal(err)
	}
	end, _ := ends.Lookup("crm.accounts", 0)
	var records []*kgo.Record
	for range int64(n) - end.Offset {
		records = append(records, &kgo.Record{Topic: "crm.accounts", Partition: 0})
	}
	w.produce(records...)
}
