// Package metrics holds Bulkstream's Prometheus collectors. Every metric is
// named bulkstream_*, registered on the registerer the caller injects, and
// labelled only by bounded values (object, operation, outcome, error code,
// reason), never by record or job.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Pipeline are the collectors of the streaming pipeline. The zero value is
// not usable; use New.
type Pipeline struct {
	EventsConsumed   *prometheus.CounterVec   // topic
	ResultsPublished *prometheus.CounterVec   // outcome (success|failure), error_code
	DeadLettered     prometheus.Counter       // failures copied to the dead-letter topic
	Rollovers        *prometheus.CounterVec   // object, operation, reason (bytes|records|age|shutdown|revoke)
	JobsSubmitted    *prometheus.CounterVec   // object, operation
	RowsSubmitted    *prometheus.CounterVec   // object, operation: CSV rows uploaded, retries included
	JobsInFlight     prometheus.Gauge         // Bulk API jobs running now
	JobAttempts      *prometheus.CounterVec   // outcome (ok|retry|failed)
	RowRetries       *prometheus.CounterVec   // error_code: rows sent again after a retryable error
	JobDuration      *prometheus.HistogramVec // object, operation: create to results read, seconds
	EventLatency     prometheus.Histogram     // record timestamp to result published, seconds
	PendingEvents    prometheus.Gauge         // events consumed without a published result
	APIUsage         *prometheus.GaugeVec     // kind (used|max): the org's daily API requests from Sforce-Limit-Info
	CommittedOffsets *prometheus.CounterVec   // topic: offsets advanced by commits
}

// New makes the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Pipeline {
	m := &Pipeline{
		EventsConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_events_consumed_total",
			Help: "Kafka records consumed from the routed topics."}, []string{"topic"}),
		ResultsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_results_published_total",
			Help: "Result records published, one per consumed event."}, []string{"outcome", "error_code"}),
		DeadLettered: prometheus.NewCounter(prometheus.CounterOpts{Name: "bulkstream_dead_letter_records_total",
			Help: "Failed events copied to the dead-letter topic."}),
		Rollovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_batch_rollovers_total",
			Help: "Buffers sealed into jobs, by the limit that fired."}, []string{"object", "operation", "reason"}),
		JobsSubmitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_jobs_submitted_total",
			Help: "Bulk API 2.0 ingest jobs created."}, []string{"object", "operation"}),
		RowsSubmitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_rows_submitted_total",
			Help: "CSV rows uploaded to Salesforce, retries included; below the events consumed when changes coalesce."}, []string{"object", "operation"}),
		JobsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulkstream_jobs_in_flight",
			Help: "Bulk API 2.0 jobs submitted whose results are not yet published."}),
		JobAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_job_attempts_total",
			Help: "Attempts to run a buffer as a job: ok, retry (transient failure, tried again) or failed (its events failed)."}, []string{"outcome"}),
		RowRetries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_row_retries_total",
			Help: "Rows sent to Salesforce again after a retryable error, by the error's code."}, []string{"error_code"}),
		JobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bulkstream_job_duration_seconds",
			Help:    "Time from job creation to its results read.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"object", "operation"}),
		EventLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bulkstream_event_latency_seconds",
			Help:    "Time from an event's record timestamp to its result being published.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		PendingEvents: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulkstream_pending_events",
			Help: "Events consumed whose result is not yet published (they hold back offset commits)."}),
		APIUsage: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bulkstream_salesforce_api_requests",
			Help: "The org's daily API requests as Salesforce last reported them (Sforce-Limit-Info)."}, []string{"kind"}),
		CommittedOffsets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_offsets_marked_total",
			Help: "Offsets marked for commit after every earlier event of the partition had its result."}, []string{"topic"}),
	}
	reg.MustRegister(m.EventsConsumed, m.ResultsPublished, m.DeadLettered, m.Rollovers, m.JobsSubmitted, m.RowsSubmitted, m.JobsInFlight,
		m.JobAttempts, m.RowRetries, m.JobDuration, m.EventLatency, m.PendingEvents, m.APIUsage, m.CommittedOffsets)
	return m
}
