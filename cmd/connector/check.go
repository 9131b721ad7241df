package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/internal/preflight"
	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// checkTimeout bounds the check `connector run` makes on start; `connector
// check` has a flag for it.
const checkTimeout = 30 * time.Second

// runCheck is `connector check --config FILE`: it connects to Kafka and
// Salesforce, checks every route, prints one line per problem, and fails
// if any is an error.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	configPath := fs.String("config", "config.yaml", "the configuration file (see config.example.yaml)")
	timeout := fs.Duration("timeout", checkTimeout, "how long the whole check may take; a side that has not answered by then is a problem")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	log := newLogger(config.Log{Level: "warn", Format: cfg.Log.Format}, stderr)
	sf, loginErr := salesforceClient(ctx, cfg.Salesforce, log, &salesforceStatus{})
	report := preflightCheck(ctx, cfg, sf, loginErr, log)
	for _, p := range report.Problems {
		fmt.Fprintln(stdout, p)
	}
	errs, warnings := report.Errors(), len(report.Problems)-report.Errors()
	if errs > 0 {
		return fmt.Errorf("%s, %s", plural(errs, "error"), plural(warnings, "warning"))
	}
	fmt.Fprintf(stdout, "ok: %s checked against Kafka and Salesforce, %s\n", plural(len(cfg.Routes), "route"), plural(warnings, "warning"))
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// preflightCheck runs the preflight check with a Kafka client of its own
// (which logs to log). sf is nil when the login failed with loginErr, which
// is then the first problem.
func preflightCheck(ctx context.Context, cfg *config.Config, sf *bulk.Client, loginErr error, log *slog.Logger) *preflight.Report {
	var first []preflight.Problem
	if loginErr != nil {
		first = append(first, preflight.Problem{Severity: preflight.Error, Key: "salesforce.auth", Cause: loginErr.Error()})
	}
	if err := checkSASL(ctx, cfg.Kafka.SASL); err != nil {
		first = append(first, preflight.Problem{Severity: preflight.Error, Key: "kafka.sasl", Cause: err.Error()})
	}
	if cause := saslInTheClear(cfg.Kafka); cause != "" {
		first = append(first, preflight.Problem{Severity: preflight.Warning, Key: "kafka.sasl.mechanism", Cause: cause})
	}
	var kc *kgo.Client
	kopts, err := kafkaOptions(cfg.Kafka, log)
	if err == nil {
		kc, err = kgo.NewClient(kopts...)
	}
	if err != nil {
		first = append(first, preflight.Problem{Severity: preflight.Error, Key: "kafka", Cause: err.Error()})
	} else {
		defer kc.Close()
	}
	report := preflight.Check(ctx, cfg, kc, sf)
	report.Problems = append(first, report.Problems...)
	return report
}

// startupCheck is the check `connector run` makes before it consumes. It
// logs each problem and refuses to start on errors, unless the
// configuration says check: warn or warnOnly is set. A check that could not
// be made (Salesforce down, 5xx, sessions refused again and again) is made
// again with back-off until it can, or ctx ends.
//
// It returns the objects the check described, for the pipeline.
func startupCheck(ctx context.Context, cfg *config.Config, sf *bulk.Client, warnOnly bool, log *slog.Logger) (map[string]*bulk.ObjectDescription, error) {
	var report *preflight.Report
	err := untilAnswered(ctx, log, "start-up check", func() error {
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		defer cancel()
		report = preflightCheck(cctx, cfg, sf, nil, log)
		for _, p := range report.Problems {
			if p.Transient {
				return transientError{errors.New(p.String())}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	warnOnly = warnOnly || cfg.Check == config.CheckWarn
	for _, p := range report.Problems {
		level := slog.LevelWarn
		if p.Severity == preflight.Error && !warnOnly {
			level = slog.LevelError
		}
		log.Log(ctx, level, "start-up check", "problem", p.String())
	}
	if n := report.Errors(); n > 0 && !warnOnly {
		return nil, fmt.Errorf("the start-up check found %s (logged above; `connector check` lists them); fix them, or start anyway with --skip-check-errors or check: warn", plural(n, "error"))
	}
	return report.Objects, nil
}

// transientError marks an error that untilAnswered tries again after.
type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

// untilAnswered calls f until it returns an error that is not transient
// (see bulk.IsRetryable; a transientError is), or nil, or ctx ends. The
// pause between tries doubles from 1s up to 1m; each failed try is logged.
func untilAnswered(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	pause := time.Second
	for {
		err := f()
		_, marked := errors.AsType[transientError](err)
		if err == nil || ctx.Err() != nil || !(marked || bulk.IsRetryable(err)) {
			return err
		}
		log.Warn(what+" could not be made; trying again", "pause", pause, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Minute)
	}
}
