package pipeline

import (
	"regexp"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// A source is where the pipeline's records come from and what their
// positions mean: the routed topics, read by the consumer group
// (routedTopics), or a dead-letter topic that connector replay reads
// (replayProgress, replay.go). The stages behind it (decoding, batching,
// jobs, results, commits) are the same for both. The main loop calls it,
// except where a method says otherwise.
type source interface {
	// pattern is the topics to consume, as one regular expression.
	pattern() string
	// decodesAhead: the poller may decode a record as it comes, by the
	// route of the record's own topic. Called by the poller.
	decodesAhead() bool
	// takes reports whether a consumed record is the source's to handle
	// now (and counts it); one it does not take is left uncommitted.
	takes(src *event.Source) bool
	// admit returns the topic whose route takes the record; false when
	// the source passes the record over, which then sees to its position.
	admit(p *Pipeline, src event.Source) (topic string, ok bool)
	// replays reports whether the records are dead-letter copies: their
	// results are about the original records.
	replays() bool
	// completed is told which records have their results out, and the
	// offsets marked for commit, by topic and partition.
	completed(sources []Source, marks map[string]map[int32]kgo.EpochOffset)
	// pollHandled is called once the records of a poll are handled.
	pollHandled(p *Pipeline)
}

// routedTopics is the source of connector run: every topic a route names
// or matches, each record routed by its own topic.
type routedTopics struct{ routes []Route }

func (t routedTopics) pattern() string {
	var alts []string
	for _, r := range t.routes {
		for _, topic := range r.Topics {
			alts = append(alts, regexp.QuoteMeta(topic))
		}
		if r.TopicRegex != nil {
			alts = append(alts, "(?:"+r.TopicRegex.String()+")")
		}
	}
	return "^(?:" + strings.Join(alts, "|") + ")$"
}

func (routedTopics) decodesAhead() bool                                       { return true }
func (routedTopics) takes(*event.Source) bool                                 { return true }
func (routedTopics) admit(_ *Pipeline, src event.Source) (string, bool)       { return src.Topic, true }
func (routedTopics) replays() bool                                            { return false }
func (routedTopics) completed([]Source, map[string]map[int32]kgo.EpochOffset) {}
func (routedTopics) pollHandled(*Pipeline)                                    {}
