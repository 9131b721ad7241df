// Package metrics holds Bulkstream's Prometheus collectors. Every metric is
// named bulkstream_*, registered on the registerer the caller injects, and
// labelled only by bounded values (object, operation, outcome, error code,
// reason, endpoint), never by record or job.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Pipeline are the collectors of the streaming pipeline. The zero value is
// not usable; use New.
type Pipeline struct {
	EventsConsumed   *prometheus.CounterVec   // topic
	Results          *prometheus.CounterVec   // object, operation, outcome (success|failure)
	RowErrors        *prometheus.CounterVec   // object, error_code: failure results
	DeadLettered     prometheus.Counter       // failures copied to the dead-letter topic
	Rollovers        *prometheus.CounterVec   // object, operation, reason
	Jobs             *prometheus.CounterVec   // object, operation, state: jobs that ended, by final state
	RowsSubmitted    *prometheus.CounterVec   // object, operation: CSV rows uploaded, retries included
	JobsInFlight     prometheus.Gauge         // Bulk API jobs running now
	JobAttempts      *prometheus.CounterVec   // outcome (ok|retry|failed)
	RowRetries       *prometheus.CounterVec   // error_code: rows sent again after a retryable error
	JobDuration      *prometheus.HistogramVec // object, operation: create to results read, seconds
	EventToResult    prometheus.Histogram     // record timestamp to result published, seconds
	PendingEvents    prometheus.Gauge         // events consumed without a published result
	BufferedBytes    prometheus.Gauge         // CSV bytes in buffers not yet submitted
	InFlightBytes    prometheus.Gauge         // what events without a published result cost, against the memory budget
	APICalls         *prometheus.CounterVec   // endpoint, code: Salesforce requests by HTTP status
	APIUsage         prometheus.Gauge         // used/max of the org's daily API requests (Sforce-Limit-Info)
	Paused           *prometheus.GaugeVec     // reason: 1 while fetching is paused for that reason
	CommittedOffsets *prometheus.CounterVec   // topic: offsets advanced by commit marks
	ConsumerLag      *prometheus.GaugeVec     // topic, partition: records not consumed yet, as of the latest fetch
}

// PauseReasons are the values of bulkstream_paused's reason label. New
// exports each at 0, so that a dashboard or an alert tells "never paused"
// from "not scraped".
var PauseReasons = []string{"api_requests", "records", "salesforce_unavailable", "salesforce_credentials", "schema_registry"}

// New makes the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Pipeline {
	m := &Pipeline{
		EventsConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_events_consumed_total",
			Help: "Kafka records consumed from the routed topics."}, []string{"topic"}),
		Results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_results_total",
			Help: "Result records published, one per consumed event."}, []string{"object", "operation", "outcome"}),
		RowErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_row_errors_total",
			Help: "Failure results, by Salesforce's (or Bulkstream's) error code."}, []string{"object", "error_code"}),
		DeadLettered: prometheus.NewCounter(prometheus.CounterOpts{Name: "bulkstream_dead_letter_records_total",
			Help: "Failed events copied to the dead-letter topic."}),
		Rollovers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_batch_rollovers_total",
			Help: "Buffers sealed into jobs, by the limit that fired."}, []string{"object", "operation", "reason"}),
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_jobs_total",
			Help: "Bulk API 2.0 ingest jobs that ended, by their final state."}, []string{"object", "operation", "state"}),
		RowsSubmitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_rows_submitted_total",
			Help: "CSV rows uploaded to Salesforce, retries included; below the events consumed when changes coalesce."}, []string{"object", "operation"}),
		JobsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulkstream_jobs_in_flight",
			Help: "Bulk API 2.0 jobs submitted whose results are not yet published."}),
		JobAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_job_attempts_total",
			Help: "Attempts to run a buffer as a job: ok, retry (transient failure, tried again), split (InvalidBatch: narrowed down to the rows that cause it) or failed (its events failed)."}, []string{"outcome"}),
		RowRetries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_row_retries_total",
			Help: "Rows sent to Salesforce again after a retryable error, by the error's code."}, []string{"error_code"}),
		JobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bulkstream_job_duration_seconds",
			Help:    "Time from job creation to its results read.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"object", "operation"}),
		EventToResult: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bulkstream_event_to_result_seconds",
			Help:    "Time from an event's record timestamp to its result being published.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)}),
		PendingEvents: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulkstream_pending_events",
			Help: "Events consumed whose result is not yet published (they hold back offset commits)."}),
		BufferedBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulkstream_buffered_bytes",
			Help: "CSV bytes (an upper bound) in buffers not yet submitted as jobs."}),
		InFlightBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulkstream_in_flight_bytes",
			Help: "What the events consumed and not yet published cost (keys, values, headers and a fixed amount each); fetching stops at memory_budget."}),
		APICalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_salesforce_api_calls_total",
			Help: "Salesforce API requests, by endpoint and HTTP status code."}, []string{"endpoint", "code"}),
		APIUsage: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bulkstream_salesforce_api_usage_ratio",
			Help: "Share of the org's daily API requests used, as Salesforce last reported it (Sforce-Limit-Info)."}),
		Paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bulkstream_paused",
			Help: "1 while fetching and new jobs are paused, by reason: api_requests or records (the org's daily reserve is reached), salesforce_unavailable (requests fail; they are repeated), salesforce_credentials (the token endpoint refuses the credentials)."}, []string{"reason"}),
		CommittedOffsets: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulkstream_offsets_marked_total",
			Help: "Offsets marked for commit after every earlier event of the partition had its result."}, []string{"topic"}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bulkstream_consumer_lag",
			Help: "Records of an assigned partition not consumed yet: its last stable offset (high watermark) less the next offset to consume, as of the partition's latest fetch that returned records."}, []string{"topic", "partition"}),
	}
	for _, reason := range PauseReasons {
		m.Paused.WithLabelValues(reason).Set(0)
	}
	reg.MustRegister(m.EventsConsumed, m.Results, m.RowErrors, m.DeadLettered, m.Rollovers, m.Jobs, m.RowsSubmitted,
		m.JobsInFlight, m.JobAttempts, m.RowRetries, m.JobDuration, m.EventToResult, m.PendingEvents, m.BufferedBytes,
		m.InFlightBytes, m.APICalls, m.APIUsage, m.Paused, m.CommittedOffsets, m.ConsumerLag)
	return m
}
