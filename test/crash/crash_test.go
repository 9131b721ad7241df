//go:build crash

// Package crash is the crash test of Bulkstream's delivery: the real
// `connector run` binary, against `connector kafka` and `connector
// emulator` running as their own processes, is killed with SIGKILL again
// and again (at random moments, and at failpoints before the upload, before
// and after closing a job, before reading results, before and after
// publishing), restarted each time, on an insert route (no external id to
// make duplicates harmless). At the end every source record exists in the
// org exactly once, every event has exactly one result on the result
// topics read with read_committed, and the group's offsets are at the end.
//
//	go test -tags crash -v ./test/crash/          (BULKSTREAM_CRASH_KILLS=n, default 25)
package crash

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/test/harness"
)

const (
	events = 3000
	group  = "crash"
	topic  = "crm.accounts"
)

func TestCrashLoop(t *testing.T) {
	kills := 25
	if s := os.Getenv("BULKSTREAM_CRASH_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	bin, err := harness.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	broker := harness.StartKafka(t, bin, "--topics", topic, "--partitions", "3")
	sfURL := harness.StartEmulator(t, bin, "--rows-per-second", "3000")

	records := harness.Accounts(topic, "CR", events)
	harness.Produce(t, broker, records)
	config := harness.Config{Brokers: broker, Group: group, InstanceID: "crash-0", LoginURL: sfURL, Topics: []string{topic}}.Write(t, dir, "config.yaml")

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	failpoints := "BULKSTREAM_FAILPOINTS=before-upload=0.03,before-close=0.03,after-close=0.03,before-results=0.03,before-publish=0.03,after-publish=0.03"
	survived := 0
	for survived < kills {
		run := harness.StartConnector(t, bin, config, failpoints)
		select {
		case <-run.Done(): // a failpoint fired, or the run ended
			if !run.KilledBy(syscall.SIGKILL) {
				t.Fatalf("connector exited on its own: %v\n%s", run.Err(), run.Tail(30))
			}
		case <-time.After(time.Duration(200+rng.IntN(1800)) * time.Millisecond):
			run.Kill()
		}
		survived++
	}

	// A last run without knives, to the end of the stream.
	results := harness.Read(t, broker, harness.SuccessTopic, harness.FailureTopic)
	run := harness.StartConnector(t, bin, config)
	if err := results.WaitResults(events, 120*time.Second, 2*time.Second, run); err != nil {
		t.Fatalf("after %d kills: %v\n%s", survived, err, run.Tail(30))
	}
	if err := harness.WaitForCommits(broker, group, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := run.Stop(30 * time.Second); err != nil {
		t.Fatalf("the last run did not stop cleanly: %v\n%s", err, run.Tail(30))
	}
	results.Stop()
	if !harness.Check(t, harness.Want{Events: harness.Events(t, records)}, results.Results(), harness.OrgNames(t, sfURL)) {
		t.Fatalf("after %d kills (SIGKILL)", survived)
	}
	fmt.Printf("crash test: survived %d kills (SIGKILL); %d events, each in the org once, each with one result; offsets at the end\n", survived, events)
}
