package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/journal"
)

// JournalForm decides how the journal's entries are written: with Pairs,
// a job of 1,000 events every other record has its entries in pairs only,
// as versions before the compact form read them; with Compact (the
// default), compact.
func TestJournalFormDecidesHowEntriesAreWritten(t *testing.T) {
	for _, form := range []journal.Form{journal.Pairs, journal.Compact} {
		w, opts, _ := openEntryWorld(t, false, "journal-form", kgo.NoCompression())
		opts.JournalForm = form
		records := accountsAndTombstones("F", 1000)
		w.produce(records...)
		rr := w.readResults()
		run := w.start(opts)
		rr.waitFor(t, len(records), 60*time.Second)
		run.shutdown(t)
		values := journalValues(t, w)
		compact := 0
		for _, v := range values {
			if strings.Contains(v, `"offsets":"`) || strings.Contains(v, `"published":"`) {
				compact++
			}
		}
		switch {
		case len(values) == 0:
			t.Fatalf("form %d: no journal entry written", form)
		case form == journal.Pairs && compact > 0:
			t.Errorf("form Pairs: %d of %d entries written compact", compact, len(values))
		case form == journal.Compact && compact == 0:
			t.Errorf("form Compact: none of %d entries written compact", len(values))
		}
	}
}

// journalValues returns the values of the journal's records, read
// committed, tombstones left out.
func journalValues(t *testing.T, w *world) []string {
	t.Helper()
	cl := w.client(kgo.ConsumeTopics(testJournal), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer cl.Close()
	var out []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		if fetches.NumRecords() == 0 {
			return out
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Value != nil {
				out = append(out, string(r.Value))
			}
		})
	}
}
