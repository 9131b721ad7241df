//go:build faults

// Package faults is the fault suite of Bulkstream's delivery (issue 12): the
// real `connector run` binary, against `connector kafka` and `connector
// emulator` running as their own processes, with a TCP proxy the test
// controls between the connector and the emulator (stop, delay, reset), in
// the ways Salesforce or a record misbehaves:
//
//   - Salesforce down for 60 s while jobs are in progress;
//   - Salesforce down during a rebalance, one of two instances killed;
//   - the session revoked on 30% of API calls;
//   - an unknown field in one of 500 events;
//   - a 10 MB record;
//   - all the emulator's fault switches at once.
//
// Each runs inserts (no external id, so a duplicate shows) and ends with the
// same check: every event has exactly one result on the result topics read
// with read_committed, the org's rows equal the source (one row per event
// that succeeded, none per event that failed), and no good event is
// reported failed. Each has a deadline, so a stall fails the scenario
// instead of hanging the suite.
//
//	go test -tags faults -count=1 -v ./test/faults/                      (about 2 minutes)
//	go test -tags faults -count=1 -v -run TestUnknownField ./test/faults/ (one scenario)
package faults

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/test/harness"
)

// bin is the connector binary, built once for the suite.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulkstream-faults-")
	if err == nil {
		bin, err = harness.Build(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const group = "faults"

// world is one scenario's processes: a broker, an emulator, a proxy in
// front of the emulator, the connectors, and a reader of the result topics
// started before them.
type world struct {
	t          *testing.T
	dir        string
	broker     string
	sfURL      string // the emulator itself, for the test's own queries
	proxy      *harness.Proxy
	results    *harness.Reader
	connectors []*harness.Connector
}

// newWorld starts a broker with topic (partitions, topic configs) and an
// emulator with the flags, behind a proxy, and checks that the emulator's
// token answer sends API calls through the proxy too.
func newWorld(t *testing.T, topic string, partitions int32, topicConfigs map[string]string, emulatorFlags ...string) *world {
	w := &world{t: t, dir: t.TempDir()}
	w.broker = harness.StartKafka(t, bin)
	harness.CreateTopic(t, w.broker, topic, partitions, topicConfigs)
	w.sfURL = harness.StartEmulator(t, bin, emulatorFlags...)
	w.proxy = harness.StartProxy(t, strings.TrimPrefix(w.sfURL, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, instance, err := bulk.ClientCredentials(ctx, w.proxy.URL(), "bulkstream", "bulkstream")
	if err != nil {
		t.Fatalf("log in through the proxy: %v", err)
	}
	if instance != w.proxy.URL() {
		t.Fatalf("the emulator's instance_url is %s, not the proxy's %s: API calls would go around the proxy", instance, w.proxy.URL())
	}
	w.results = harness.Read(t, w.broker, harness.SuccessTopic, harness.FailureTopic)
	return w
}

// start writes c (brokers, group, login URL: the proxy's) and starts a
// connector with it.
func (w *world) start(c harness.Config) *harness.Connector {
	c.Brokers, c.Group, c.LoginURL = w.broker, group, w.proxy.URL()
	name := fmt.Sprintf("config-%d.yaml", len(w.connectors))
	conn := harness.StartConnector(w.t, bin, c.Write(w.t, w.dir, name))
	w.connectors = append(w.connectors, conn)
	return conn
}

// waitJobsUnderWay waits until some events have results and a closed job is
// running in the org: the moment to pull the plug. It returns how many such
// jobs there are.
func (w *world) waitJobsUnderWay(timeout time.Duration) int {
	w.t.Helper()
	if err := w.results.WaitResults(1, timeout, 0, w.connectors...); err != nil {
		w.fail("no result yet: %v", err)
	}
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		n, err := harness.ClosedJobsRunning(w.sfURL)
		if err == nil && n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			w.fail("no closed job running in the org after %v (%d; %v)", timeout, n, err)
		}
	}
}

// fail ends the scenario at once, with what the connectors logged.
func (w *world) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Errorf(format, args...)
	w.logTails()
	w.t.FailNow()
}

// finish waits up to timeout for every event to have a result (and the
// group's offsets to reach the end), stops the connectors that still run,
// and holds the results and the org to want. On failure it prints what each
// connector logged.
func (w *world) finish(want harness.Want, timeout time.Duration) {
	w.t.Helper()
	var running []*harness.Connector
	for _, c := range w.connectors {
		select {
		case <-c.Done():
		default:
			running = append(running, c)
		}
	}
	if len(running) > 0 {
		if err := w.results.WaitResults(len(want.Events), timeout, 2*time.Second, running...); err != nil {
			w.t.Errorf("%v", err)
		} else if err := harness.WaitForCommits(w.broker, group, 20*time.Second); err != nil {
			w.t.Errorf("offsets: %v", err)
		}
	}
	for i, c := range w.connectors {
		select {
		case <-c.Done():
			if !c.KilledBy(syscall.SIGKILL) { // the test's own kills are SIGKILL
				w.t.Errorf("connector %d exited on its own: %v", i, c.Err())
			}
		default:
			if err := c.Stop(15 * time.Second); err != nil {
				w.t.Errorf("connector %d did not stop cleanly: %v", i, err)
			}
		}
	}
	w.results.Stop()
	harness.Check(w.t, want, w.results.Results(), harness.OrgNames(w.t, w.sfURL))
	if w.t.Failed() {
		w.logTails()
	}
}

func (w *world) logTails() {
	for i, c := range w.connectors {
		w.t.Logf("connector %d logged, by message (count, first line):\n%s\nand last:\n%s", i, c.Logged(), c.Tail(8))
	}
}
