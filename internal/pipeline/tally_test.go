package pipeline

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulkstream/bulkstream/internal/metrics"
)

// Published outcomes are counted once each, by their own labels, however
// they run in a chunk (counters are added to a run of equal labels at a
// time); a lost partition's are not counted, nor reported.
func TestTallyCountsEachOutcomeByItsLabels(t *testing.T) {
	p := &Pipeline{opts: Options{Metrics: metrics.New(prometheus.NewRegistry())}}
	p.opts.Results.DeadLetter = "dlq"
	p.submit = &submitter{}
	p.submit.watch = newWatch(p)
	ok := func(object, op string) outcome {
		return outcome{result: Result{Success: true, Object: object, Operation: op, Source: Source{Topic: "t", Partition: 0}}}
	}
	fail := func(object, code string) outcome {
		return outcome{result: Result{Object: object, Operation: "upsert", ErrorCode: code, Source: Source{Topic: "t", Partition: 0}}}
	}
	skip := outcome{result: Result{Success: true, Status: StatusSkipped, SkipReason: "tombstone", Object: "Account", Operation: "upsert", Source: Source{Topic: "t"}}}
	lost := ok("Account", "upsert")
	lost.result.Source.Partition = 7
	chunk := []outcome{ok("Account", "upsert"), ok("Account", "upsert"), fail("Account", "A"), fail("Account", "B"), fail("Account", "A"),
		ok("Contact", "upsert"), ok("Account", "delete"), lost, ok("Account", "upsert"), skip, fail("Contact", "A")}
	c := p.tally(chunk, map[topicPartition]bool{{"t", 7}: true})
	if len(c.sources) != len(chunk)-1 {
		t.Errorf("%d sources reported, want %d (all but the lost partition's)", len(c.sources), len(chunk)-1)
	}
	m := p.opts.Metrics
	for _, w := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"Account", "upsert", "success"}, 3},
		{[]string{"Account", "upsert", "failure"}, 3},
		{[]string{"Account", "upsert", "skipped"}, 1},
		{[]string{"Contact", "upsert", "success"}, 1},
		{[]string{"Contact", "upsert", "failure"}, 1},
		{[]string{"Account", "delete", "success"}, 1},
	} {
		if got := counterValue(t, m.Results.WithLabelValues(w.labels...)); got != w.want {
			t.Errorf("results %v: %v, want %v", w.labels, got, w.want)
		}
	}
	for _, w := range []struct {
		object, code string
		want         float64
	}{{"Account", "A", 2}, {"Account", "B", 1}, {"Contact", "A", 1}} {
		if got := counterValue(t, m.RowErrors.WithLabelValues(w.object, w.code)); got != w.want {
			t.Errorf("row errors %s %s: %v, want %v", w.object, w.code, got, w.want)
		}
	}
	if got := counterValue(t, m.DeadLettered); got != 4 {
		t.Errorf("dead-lettered %v, want 4", got)
	}
	if s := p.Stats(); s.Succeeded != 6 || s.Skipped != 1 || s.Failed != 4 {
		t.Errorf("stats: %d succeeded (%d skipped), %d failed; want 6 (1), 4", s.Succeeded, s.Skipped, s.Failed)
	}
}
