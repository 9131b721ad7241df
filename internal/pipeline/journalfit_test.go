package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// openFit holds an open entry to the producer's batch limit as franz-go
// counts a batch (kgo's recordBatchOverhead: the 61-byte header and a
// 4-byte array length): an entry whose batch fits under the header alone,
// but not with the array length, is refused. No broker is needed: the
// producer's limit is judged first.
func TestOpenFitCountsTheProducersBatchOverhead(t *testing.T) {
	bt, err := batch.NewBatcher(batch.Policy{MaxRecords: 1000, MaxBytes: 1 << 20, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 { // every other offset: an entry of 300 pairs
		c := &event.Change{Object: "Account", Operation: event.Insert, Fields: []event.Field{{Name: "Name", Value: event.Text(fmt.Sprint(i))}},
			Source: event.Source{Topic: "t", Offset: int64(2 * i)}}
		if _, err := bt.Add(c, "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b := bt.SealAll(batch.ReasonShutdown)[0]
	defer b.Close()
	wire := len(recordWire(openEntries(placeholderJobID, b, 1)[topicPartition{"t", 0}].Record("j")))
	for _, c := range []struct {
		limit   int
		refused bool
	}{{wire + 64, true}, {wire + 65, false}} {
		cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.ProducerBatchMaxBytes(int32(c.limit)))
		if err != nil {
			t.Fatal(err)
		}
		p := &Pipeline{client: cl, log: slog.New(slog.DiscardHandler), opts: Options{Journal: "j"}}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the topic's limit is not asked for: only the producer's is judged
		err = (&openFit{p: p}).check(ctx, b, 1)
		cl.Close()
		if refused := errors.Is(err, kerr.MessageTooLarge); refused != c.refused {
			t.Errorf("an entry of %d bytes on the wire, a producer limit of %d: refused %v (%v), want %v", wire, c.limit, refused, err, c.refused)
		}
	}
}
