package pipeline

import "github.com/twmb/franz-go/pkg/kgo"

// lag is how many records each partition's end (the last stable offset
// under read_committed) is ahead of the consumer, as of the partition's
// last poll, and whether the consumer has been a backlog behind since it
// last caught up. The main loop owns it.
type lag struct {
	parts   map[topicPartition]int64
	backlog bool
}

// backlogRecords is how far behind, over all partitions, counts as a
// backlog: more than a poll.
const backlogRecords = pollRecords

// position is where the consumer stands in a partition after a poll: the
// offset after the last record polled, and how many records the
// partition's end is ahead of it.
type position struct{ next, lag int64 }

// fetchedPositions is the position of each partition of fetches, measured from
// the last record fetched (those not polled yet count as lag).
func fetchedPositions(fetches kgo.Fetches) map[topicPartition]position {
	at := map[topicPartition]position{}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		end := fp.LastStableOffset
		if end <= 0 {
			end = fp.HighWatermark
		}
		next := fp.Records[len(fp.Records)-1].Offset + 1
		at[topicPartition{fp.Topic, fp.Partition}] = position{next, max(end-next, 0)}
	})
	return at
}

// caughtUp notes the lag of a poll's partitions and reports whether the
// consumer has just read to the end of a backlog. Then the open buffers are
// the backlog's tail, and waiting batch.max_age for more would idle the
// pipeline; a steady stream, never a backlog behind, fills its buffers to
// their limits as before, so it costs no more jobs.
func (l *lag) caughtUp(polled map[topicPartition]position) bool {
	if l.parts == nil {
		l.parts = map[topicPartition]int64{}
	}
	for tp, at := range polled {
		l.parts[tp] = at.lag
	}
	var total int64
	for _, n := range l.parts {
		total += n
	}
	switch {
	case total >= backlogRecords:
		l.backlog = true
	case total == 0 && l.backlog:
		l.backlog = false
		return true
	}
	return false
}

// forget drops a partition this instance no longer owns.
func (l *lag) forget(tp topicPartition) { delete(l.parts, tp) }
