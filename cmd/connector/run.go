package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/internal/metrics"
	"github.com/bulkstream/bulkstream/internal/pacer"
	"github.com/bulkstream/bulkstream/internal/pipeline"
	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// runRun is `connector run --config FILE`: the streaming pipeline until
// SIGINT or SIGTERM. Before it consumes, it makes the check of `connector
// check` and refuses to start on errors, unless told to take them as
// warnings. A first signal stops fetching and lets jobs in flight finish
// (shutdown_grace); a second exits at once, losing nothing that was
// committed.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	configPath := fs.String("config", "config.yaml", "the configuration file (see config.example.yaml)")
	skipCheckErrors := fs.Bool("skip-check-errors", false, "start even if the start-up check finds errors, logging them as warnings (as check: warn does)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	implicit := !flagGiven(fs, "config")
	if _, err := os.Stat(*configPath); implicit && errors.Is(err, os.ErrNotExist) {
		return usageError{"no --config given and no config.yaml in the working directory: give --config FILE (see config.example.yaml)"}
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	if implicit {
		log.Info("no --config given: reading config.yaml of the working directory", "path", *configPath)
	}
	go exitOnSecondSignal(ctx, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	metrics.RegisterBuild(reg, buildMetric())
	pc := pacer.New(pacer.Options{RequestReserve: cfg.Limits.APIRequestReserve.Count, RequestReserveRatio: cfg.Limits.APIRequestReserve.Ratio,
		RecordLimit: cfg.Limits.RecordLimit, RecordReserve: cfg.Limits.RecordReserve.Of(cfg.Limits.RecordLimit)})
	sfStatus := &salesforceStatus{metrics: m, pacer: pc}
	var sf *bulk.Client
	err = untilAnswered(ctx, log, "Salesforce login", func() (err error) {
		sf, err = salesforceClient(ctx, cfg.Salesforce, log, sfStatus)
		return err
	})
	if err != nil {
		return err
	}
	described, err := startupCheck(ctx, cfg, sf, *skipCheckErrors, log)
	if err != nil {
		return err
	}
	opts, err := pipelineOptions(cfg, sf, m, log)
	if err != nil {
		return err
	}
	opts.Described = described
	opts.Pacer, opts.LimitsInterval = pc, cfg.Limits.PollInterval
	setMemoryLimit(cfg.MemoryBudget, log)
	p, err := pipeline.New(opts)
	if err != nil {
		return err
	}
	if cfg.HTTP.Listen != "" {
		con := newConsole(cfg, sf, p, reg, opts, log)
		stop, err := serveHTTP(ctx, cfg.HTTP.Listen, reg, &readiness{pipeline: p, status: sfStatus, sf: sf}, con, cfg.ShutdownGrace, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if isTerminal(stderr) {
		go progress(ctx, p, stderr)
	}
	return p.Run(ctx)
}

// exitOnSecondSignal waits for the first stop (ctx) and then for another
// signal, on which the process exits at once.
func exitOnSecondSignal(ctx context.Context, log *slog.Logger) {
	<-ctx.Done()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	log.Warn("second signal: exiting now; uncommitted events will be read again")
	os.Exit(130)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parentWait is retry.parent_wait as the pipeline takes it: 0 turns the
// wait off, which the pipeline spells as a negative duration.
func parentWait(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// pipelineOptions turns the configuration into the pipeline's options.
func pipelineOptions(cfg *config.Config, sf *bulk.Client, m *metrics.Pipeline, log *slog.Logger) (pipeline.Options, error) {
	kopts, err := kafkaOptions(cfg.Kafka, log)
	if err != nil {
		return pipeline.Options{}, err
	}
	reg, err := schemaRegistry(cfg.SchemaRegistry)
	if err != nil {
		return pipeline.Options{}, err
	}
	var routes []pipeline.Route
	for i, r := range cfg.Routes {
		dec, err := routeDecoder(fmt.Sprintf("routes[%d]", i), r, reg)
		if err != nil {
			return pipeline.Options{}, err
		}
		pr := pipeline.Route{Topics: r.Topics, Decoder: dec}
		if r.TopicRegex != "" {
			pr.TopicRegex = regexp.MustCompile("^(?:" + r.TopicRegex + ")$") // Validate compiled it already
		}
		routes = append(routes, pr)
	}
	journalForm := journal.Compact
	if cfg.Journal.OffsetForm == config.OffsetsPairs {
		journalForm = journal.Pairs
	}
	start := kgo.NewOffset().AtStart()
	if cfg.Kafka.StartOffset == config.StartLatest {
		start = kgo.NewOffset().AtEnd()
	}
	topics := pipeline.Topics{Success: cfg.Results.SuccessTopic, Failure: cfg.Results.FailureTopic, DeadLetter: cfg.Results.DeadLetterTopic,
		Connector: cfg.Kafka.Group, Task: cfg.Kafka.InstanceID}
	var encodeResult func(*pipeline.Result) ([]byte, error) // default JSON
	if cfg.Results.Format == config.ResultsAvro {
		enc, err := newAvroResults(reg, topics)
		if err != nil {
			return pipeline.Options{}, err
		}
		encodeResult = enc.encode
	}
	return pipeline.Options{
		Kafka:       kopts,
		Group:       cfg.Kafka.Group,
		StartOffset: start,
		Routes:      routes,
		Salesforce:  sf,
		Batch: batch.Policy{MaxBytes: int64(cfg.Batch.MaxBytes), MaxRecords: cfg.Batch.MaxRecords, MaxAge: cfg.Batch.MaxAge,
			SpillThreshold: int64(cfg.Batch.SpillThreshold), SpillDir: cfg.Batch.SpillDir, ParentOrder: cfg.Batch.ParentOrder},
		IDCacheSize:       cfg.Batch.IDCacheSize,
		MaxAttempts:       cfg.Retry.MaxAttempts,
		RetryBase:         cfg.Retry.Backoff,
		RetryMax:          cfg.Retry.MaxBackoff,
		ParentWait:        parentWait(cfg.Retry.ParentWait),
		MaxJobsInFlight:   cfg.Batch.MaxJobsInFlight,
		MemoryBudget:      int64(cfg.MemoryBudget),
		Results:           topics,
		EncodeResult:      encodeResult,
		TopicPartitions:   int32(cfg.Results.Partitions),
		ReplicationFactor: int16(cfg.Results.ReplicationFactor),
		MaxRecordBytes:    int(cfg.Results.MaxRecordBytes),
		ShutdownGrace:     cfg.ShutdownGrace,
		Journal:           cfg.Journal.Topic,
		JournalForm:       journalForm,
		ExactlyOnce:       cfg.Delivery == config.ExactlyOnce,
		Logger:            log,
		Metrics:           m,
	}, nil
}

// kafkaOptions are the franz-go options of the kafka section: brokers,
// client id, timeouts, TLS and SASL.
func kafkaOptions(k config.Kafka, log *slog.Logger) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ClientID(k.ClientID),
		kgo.FetchMaxBytes(int32(k.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(k.FetchMaxPartitionBytes)),
		kgo.SessionTimeout(k.SessionTimeout),
		kgo.RebalanceTimeout(k.RebalanceTimeout),
	}
	if k.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(k.InstanceID))
	}
	if k.TLS.Enabled {
		tc := &tls.Config{InsecureSkipVerify: k.TLS.InsecureSkipVerify, ServerName: k.TLS.ServerName, MinVersion: tls.VersionTLS12}
		if k.TLS.CAFile != "" {
			pem, err := os.ReadFile(k.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka.tls.ca_file: %s holds no PEM certificate", k.TLS.CAFile)
			}
		}
		if k.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(k.TLS.CertFile, k.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("kafka.tls.cert_file/key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if mech := saslMechanism(k.SASL, log); mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// serveHTTP serves /metrics, /healthz (the process is up), /readyz
// (ready's checks, as JSON with reasons) and the console (its pages and
// /api/) on addr, and returns a function that stops it.
//
// A request's context ends with ctx, so a console replay stops as the run
// does. stop ends every request's context, waits up to grace for the
// requests in flight to be answered (a replay's results and commits are
// then done, and its caller has its answer), closes what is left, and
// returns once the server's goroutine has.
func serveHTTP(ctx context.Context, addr string, reg *prometheus.Registry, ready, console http.Handler, grace time.Duration, log *slog.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.Handle("/", console)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", healthz)
	mux.Handle("/readyz", ready)
	// Go's profiles, for finding where CPU and memory go in a running
	// connector (go tool pprof http://<http.listen>/debug/pprof/heap).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	reqCtx, cancel := context.WithCancel(ctx)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return reqCtx }}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "error", err)
		}
	}()
	log.Info("serving /metrics, /healthz, /readyz, /debug/pprof/ and the console (/ and /api/)", "address", ln.Addr().String(), "console", "http://"+ln.Addr().String()+"/")
	return func() {
		cancel()
		sctx, done := context.WithTimeout(context.Background(), grace)
		defer done()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("http server: requests still unanswered after shutdown_grace; closing their connections", "error", err)
			srv.Close()
		}
		<-served
	}, nil
}

// isTerminal reports whether w is a character device, where a progress
// line that rewrites itself is welcome.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress rewrites one status line every two seconds.
func progress(ctx context.Context, p *pipeline.Pipeline, w io.Writer) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			return
		case <-t.C:
			s := p.Stats()
			fmt.Fprintf(w, "\revents in %d · results out %d (%d failed) · jobs %d, in flight %d   ",
				s.Consumed, s.Succeeded+s.Failed, s.Failed, s.Jobs, s.InFlight)
		}
	}
}

// setMemoryLimit gives the Go runtime a soft memory limit that follows the
// memory budget, 2 × memory_budget + 96 MiB (224 MiB by default), so the
// garbage collector works harder before the heap doubles past what the
// pipeline holds. A GOMEMLIMIT in the environment wins.
func setMemoryLimit(budget config.Size, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := 2*int64(budget) + 96<<20
	debug.SetMemoryLimit(limit)
	log.Debug("soft memory limit", "bytes", limit)
}
