package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/metrics"
	"github.com/bulkstream/bulkstream/internal/pipeline"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// The demo's topics and consumer group. Input topics are created with the
// broker; the pipeline creates the result topics.
const (
	demoAccounts   = "crm.accounts" // envelope format
	demoContacts   = "crm.contacts" // json format, routed to Contact upserts by External_Id__c
	demoGroup      = "bulkstream-demo"
	demoPartitions = 4
	// The emulator's connected app, as a real deployment would log in.
	demoClientID, demoClientSecret = "bulkstream", "bulkstream"
)

var demoResults = pipeline.Topics{Success: "bulkstream.success", Failure: "bulkstream.failure", DeadLetter: "bulkstream.dlq"}

// demoConfig is the command line of `connector demo`.
type demoConfig struct {
	events      int    // Account events; Contact events are half as many on top
	kafkaAddr   string // embedded broker's listen (and advertised) address
	sfAddr      string // emulator's listen address
	metricsAddr string // /metrics and /healthz; "" disables
	keepRunning bool
	seed        uint64
	quiet       bool
	timeout     time.Duration // from the first produce until every event must have its result
}

// runDemo is `connector demo`: the whole pipeline on embedded defaults. It
// starts a Kafka broker (kfake) and the Salesforce emulator on local ports,
// produces a stream of Account and Contact upserts, runs the pipeline until
// every event has a result, and prints a summary. It fails (exit 1) when an
// event has no result or more than one. With --keep-running everything stays
// up after the summary until SIGINT or SIGTERM.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseDemoFlags(args, stderr)
	if err != nil {
		return err
	}
	say := func(format string, a ...any) {
		if !cfg.quiet {
			fmt.Fprintf(stderr, "demo: "+format+"\n", a...)
		}
	}
	env, err := startDemoEnv(cfg)
	if err != nil {
		return err
	}
	defer env.close()
	say("Kafka (kfake) on %s, Salesforce emulator on %s, metrics on %s", env.kafka, env.sfURL, orNone(env.metricsURL))

	run, err := env.startPipeline(ctx, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer run.stop()
	rep, err := playStream(ctx, cfg, env, run, say)
	if err != nil {
		return err
	}
	rep.write(stdout)
	if err := rep.verdict(); err != nil {
		return err
	}
	if !cfg.keepRunning {
		return nil
	}
	fmt.Fprintf(stdout, "\nEverything stays up (the pipeline keeps consuming %s and %s); press Ctrl-C to stop.\n", demoAccounts, demoContacts)
	select {
	case <-ctx.Done():
	case <-run.done:
		return fmt.Errorf("pipeline stopped: %v", run.err)
	}
	return run.stop()
}

// parseDemoFlags reads the command line of `connector demo`.
func parseDemoFlags(args []string, stderr io.Writer) (demoConfig, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var cfg demoConfig
	fs.IntVar(&cfg.events, "events", 20000, "Account change events to produce; half as many Contact events follow once the accounts are in")
	fs.StringVar(&cfg.kafkaAddr, "kafka-addr", "127.0.0.1:9092", "listen address of the embedded Kafka broker, which advertises it as is; port 0 picks a free port")
	fs.StringVar(&cfg.sfAddr, "salesforce-addr", "127.0.0.1:8443", "listen address of the Salesforce Bulk API 2.0 emulator (plain http); port 0 picks a free port")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "127.0.0.1:9464", "listen address of /metrics (Prometheus) and /healthz; port 0 picks a free port, empty disables")
	fs.BoolVar(&cfg.keepRunning, "keep-running", false, "after the summary, keep the broker, the emulator and the pipeline up until Ctrl-C, for other Kafka clients")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the generated stream: the same seed produces the same events")
	fs.BoolVar(&cfg.quiet, "quiet", false, "print only the summary, no progress lines")
	fs.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "fail if some event still has no result this long after the first produce")
	if err := parseFlags(fs, args, stderr); err != nil {
		return cfg, err
	}
	switch {
	case cfg.events < 1:
		return cfg, usageError{fmt.Sprintf("--events must be at least 1, got %d", cfg.events)}
	case cfg.timeout <= 0:
		return cfg, usageError{fmt.Sprintf("--timeout must be positive, got %v", cfg.timeout)}
	}
	return cfg, nil
}

// demoEnv is what the demo runs against: the embedded broker, the emulator
// served over HTTP, and the metrics endpoint of the pipeline's registry.
type demoEnv struct {
	cluster    *kfake.Cluster
	kafka      string // bootstrap address
	emu        *bulkemu.Emulator
	sfURL      string
	reg        *prometheus.Registry
	metricsURL string // "" when disabled
	closers    []func()
}

// startDemoEnv starts the broker, the emulator and the metrics endpoint; on
// error it stops what it started.
func startDemoEnv(cfg demoConfig) (_ *demoEnv, err error) {
	env := &demoEnv{reg: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	if err := env.startKafka(cfg.kafkaAddr); err != nil {
		return nil, fmt.Errorf("--kafka-addr: %w", err)
	}
	env.emu = bulkemu.New(bulkemu.Options{ClientID: demoClientID, ClientSecret: demoClientSecret})
	if env.sfURL, err = env.serve(cfg.sfAddr, env.emu); err != nil {
		return nil, fmt.Errorf("--salesforce-addr: %w", err)
	}
	if cfg.metricsAddr != "" {
		env.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(env.reg, promhttp.HandlerOpts{Registry: env.reg}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
		base, err := env.serve(cfg.metricsAddr, mux)
		if err != nil {
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		env.metricsURL = base + "/metrics"
	}
	return env, nil
}

// startKafka starts a one-broker kfake cluster listening on addr, with the
// input topics. kfake itself always listens on 127.0.0.1; ListenFn lets the
// flag choose the host too.
func (env *demoEnv) startKafka(addr string) error {
	listen := func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(listen),
		kfake.SeedTopics(demoPartitions, demoAccounts, demoContacts))
	if err != nil {
		return err
	}
	env.cluster = c
	env.kafka = c.ListenAddrs()[0]
	env.closers = append(env.closers, c.Close)
	return nil
}

// serve serves h over plain HTTP on addr and returns its base URL.
func (env *demoEnv) serve(addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) // returns ErrServerClosed on close
	env.closers = append(env.closers, func() { srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// close stops everything, last started first.
func (env *demoEnv) close() {
	for i := len(env.closers) - 1; i >= 0; i-- {
		env.closers[i]()
	}
	env.closers = nil
}

// pipelineRun is a pipeline running in the background.
type pipelineRun struct {
	p      *pipeline.Pipeline
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // Run's error; read after done
}

// stop stops the pipeline gracefully (jobs in flight finish and publish)
// and returns Run's error. It may be called more than once.
func (r *pipelineRun) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// startPipeline logs in to the emulator with client credentials, as a real
// deployment does, and runs the pipeline until ctx ends or stop is called.
func (env *demoEnv) startPipeline(ctx context.Context, log *slog.Logger) (*pipelineRun, error) {
	tokens, instance, err := bulk.ClientCredentials(ctx, env.sfURL, demoClientID, demoClientSecret)
	if err != nil {
		return nil, fmt.Errorf("salesforce login at %s: %w", env.sfURL, err)
	}
	// The emulator finishes a job in milliseconds; the default wait policy
	// (first look after 500ms) is tuned for Salesforce and would dominate
	// the latency the summary shows.
	sf, err := bulk.New(instance, tokens, bulk.WithWaitPolicy(bulk.WaitPolicy{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}),
		bulk.WithLogger(log))
	if err != nil {
		return nil, err
	}
	spill, err := os.MkdirTemp("", "bulkstream-demo-")
	if err != nil {
		return nil, err
	}
	env.closers = append(env.closers, func() { os.RemoveAll(spill) })
	p, err := pipeline.New(pipeline.Options{
		Kafka:       []kgo.Opt{kgo.SeedBrokers(env.kafka), kgo.ClientID("bulkstream-demo"), kgo.FetchMaxWait(250 * time.Millisecond)},
		Group:       demoGroup,
		StartOffset: kgo.NewOffset().AtStart(),
		Routes: []pipeline.Route{
			{Topics: []string{demoAccounts}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})},
			{Topics: []string{demoContacts}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Contact", Operation: event.Upsert, ExternalIDField: "External_Id__c"})},
		},
		Salesforce:      sf,
		Batch:           batch.Policy{MaxBytes: 10 << 20, MaxRecords: 2000, MaxAge: 200 * time.Millisecond, SpillThreshold: 8 << 20, SpillDir: spill},
		MaxJobsInFlight: 8,
		// The demo's Contacts of ACC-GONE-… name Accounts that never
		// come: a short wait shows their failure in seconds.
		ParentWait:      3 * time.Second,
		Results:         demoResults,
		TopicPartitions: demoPartitions,
		ShutdownGrace:   10 * time.Second,
		Logger:          log,
		Metrics:         metrics.New(env.reg),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &pipelineRun{p: p, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = p.Run(ctx)
	}()
	return r, nil
}

// errPipelineStopped is returned while waiting for results when the
// pipeline's Run returned early.
var errPipelineStopped = errors.New("the pipeline stopped before every event had its result")

func orNone(s string) string {
	if s == "" {
		return "(disabled)"
	}
	return s
}
