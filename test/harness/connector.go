package harness

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Config is the part of a `connector run` configuration the suites vary.
// The rest is fixed: one json route of Accounts with operation insert (no
// external id, so a duplicate shows), delivery exactly_once, a 6 s session
// timeout, fast polling and retries (50 ms to 500 ms, 100 ms to 1 s), no
// HTTP listener, warnings and errors logged. A zero field takes the default
// in its comment, chosen for short tests.
type Config struct {
	Brokers          string        // required: host:port
	Group            string        // required: the consumer group
	InstanceID       string        // kafka.instance_id (static membership); default none
	LoginURL         string        // required: the emulator's, or a proxy's, URL
	Topics           []string      // required: the route's topics
	MaxRecords       int           // batch.max_records, default 150
	MaxAge           time.Duration // batch.max_age, default 150ms
	MaxJobsInFlight  int           // batch.max_jobs_in_flight, default 4
	RetryMaxAttempts int           // retry.max_attempts, default the product's
}

// Write writes the configuration as YAML to dir/name and returns its path.
func (c Config) Write(t testing.TB, dir, name string) string {
	t.Helper()
	if c.MaxRecords == 0 {
		c.MaxRecords = 150
	}
	if c.MaxAge == 0 {
		c.MaxAge = 150 * time.Millisecond
	}
	if c.MaxJobsInFlight == 0 {
		c.MaxJobsInFlight = 4
	}
	var y strings.Builder
	fmt.Fprintf(&y, "kafka:\n  brokers: [%s]\n  group: %s\n  session_timeout: 6s\n", c.Brokers, c.Group)
	if c.InstanceID != "" {
		fmt.Fprintf(&y, "  instance_id: %s\n", c.InstanceID)
	}
	fmt.Fprintf(&y, `salesforce:
  login_url: %s
  auth: {flow: client_credentials, client_id: bulkstream, client_secret: bulkstream}
  poll_interval: 50ms
  poll_max_interval: 500ms
routes:
  - topics: [%s]
    format: json
    object: Account
    operation: insert
batch: {max_records: %d, max_age: %s, max_jobs_in_flight: %d}
`, c.LoginURL, strings.Join(c.Topics, ", "), c.MaxRecords, c.MaxAge, c.MaxJobsInFlight)
	if c.RetryMaxAttempts != 0 {
		fmt.Fprintf(&y, "retry: {backoff: 100ms, max_backoff: 1s, max_attempts: %d}\n", c.RetryMaxAttempts)
	} else {
		y.WriteString("retry: {backoff: 100ms, max_backoff: 1s}\n")
	}
	y.WriteString("delivery: exactly_once\nhttp: {listen: \"\"}\nlog: {level: warn}\nshutdown_grace: 10s\n")
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Connector is one `connector run` process. Its stdout and stderr go to a
// buffer that keeps their last lines and counts their log messages, for a
// test to print when it fails.
type Connector struct {
	cmd  *exec.Cmd
	log  *tail
	done chan struct{}
	err  error // the exit, once done is closed
}

// StartConnector starts `connector run --config config` with env added to
// the environment; the process is killed when the test ends.
func StartConnector(t testing.TB, bin, config string, env ...string) *Connector {
	t.Helper()
	c := &Connector{cmd: exec.Command(bin, "run", "--config", config), log: &tail{}, done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.Kill() })
	return c
}

// Done is closed when the process has exited.
func (c *Connector) Done() <-chan struct{} { return c.done }

// Err is how the process exited (nil for exit 0); valid once Done is closed.
func (c *Connector) Err() error { return c.err }

// KilledBy says whether the process has exited on signal sig.
func (c *Connector) KilledBy(sig syscall.Signal) bool {
	select {
	case <-c.done:
	default:
		return false
	}
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// Kill sends SIGKILL and waits for the process to exit.
func (c *Connector) Kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// Stop sends SIGTERM and waits up to timeout for a clean exit; then it
// kills the process and says so.
func (c *Connector) Stop(timeout time.Duration) error {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		c.Kill()
		return fmt.Errorf("no exit %v after SIGTERM; killed", timeout)
	}
}

// Tail returns the last n lines the process wrote, each cut at 400 bytes.
func (c *Connector) Tail(n int) string { return c.log.lines(n) }

// Logged summarises the whole output by log message (slog's msg), most
// frequent first: how often each came and its first line, cut at 400 bytes.
func (c *Connector) Logged() string { return c.log.summary() }

// tail keeps the last 256 KiB written to it, and counts the log messages of
// every line.
type tail struct {
	mu      sync.Mutex
	buf     []byte
	partial []byte            // the end of the latest write, not yet a line
	count   map[string]int    // msg → lines
	first   map[string]string // msg → its first line
}

const tailBytes = 256 << 10

var msgPattern = regexp.MustCompile(`msg=("(?:[^"\\]|\\.)*"|\S+)`)

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - tailBytes; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.note(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > tailBytes { // a line longer than that counts by its start
		w.note(string(w.partial[:400]))
		w.partial = nil
	}
	return len(p), nil
}

func (w *tail) note(line string) {
	msg := line
	if m := msgPattern.FindStringSubmatch(line); m != nil {
		msg = m[1]
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if w.count == nil {
		w.count, w.first = map[string]int{}, map[string]string{}
	}
	if w.count[msg] == 0 {
		w.first[msg] = cut(line)
	}
	w.count[msg]++
}

func (w *tail) lines(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(w.buf), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = cut(l)
	}
	return strings.Join(lines, "\n")
}

func (w *tail) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	msgs := slices.SortedFunc(maps.Keys(w.count), func(a, b string) int { return cmp.Compare(w.count[b], w.count[a]) })
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%6d× %s\n", w.count[m], w.first[m])
	}
	return b.String()
}

func cut(line string) string {
	if len(line) > 400 {
		return line[:400] + fmt.Sprintf("… (%d bytes)", len(line))
	}
	return line
}
