// Package harness runs the real `connector` binary the way an operator
// does, for the suites under test/ that need more than one process: it
// builds the binary, starts `connector kafka` and `connector emulator` as
// their own processes, writes a configuration, starts `connector run`,
// produces events, reads the result topics with read_committed, puts a TCP
// proxy the test controls between the connector and Salesforce, queries the
// org, and checks the end state: every event one result, the org's rows
// equal to the source, no good event failed.
//
// Everything a test starts ends with the test (t.Cleanup).
package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Build builds the connector binary into dir and returns its path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "connector")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/bulkstream/bulkstream/cmd/connector")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build the connector: %w", err)
	}
	return bin, nil
}

// StartKafka starts `connector kafka` on a free port with the extra args
// (--topics, --partitions) and returns the broker's host:port.
func StartKafka(t testing.TB, bin string, args ...string) string {
	t.Helper()
	return startService(t, bin, `on ([0-9.:]+)`, append([]string{"kafka", "--addr", "127.0.0.1:0"}, args...)...)
}

// StartEmulator starts `connector emulator --quiet` on a free port with the
// extra flags (faults, --rows-per-second) and returns its base URL.
func StartEmulator(t testing.TB, bin string, flags ...string) string {
	t.Helper()
	return startService(t, bin, `on (http://[0-9.:]+)`, append([]string{"emulator", "--addr", "127.0.0.1:0", "--quiet"}, flags...)...)
}

// startService starts `connector <args>` and returns what the pattern's
// group finds in its first line (the address it says it serves on); the
// process is killed when the test ends.
func startService(t testing.TB, bin, pattern string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("connector %s: %v", args[0], err)
	}
	go io.Copy(io.Discard, out)
	m := regexp.MustCompile(pattern).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("connector %s said %q", args[0], line)
	}
	return m[1]
}

// CreateTopic creates a topic with the given partitions and topic configs
// (max.message.bytes, ...).
func CreateTopic(t testing.TB, broker, topic string, partitions int32, configs map[string]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}
