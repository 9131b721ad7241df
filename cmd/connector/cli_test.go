package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// `connector help CMD` prints the command's usage line, summary and own
// flags (or that it has none), not the list of commands; `connector help`
// alone still lists them.
func TestHelpCommand(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"help", "run"}, &bytes.Buffer{}, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), "-skip-check-errors") || strings.Contains(stderr.String(), "Commands:") {
		t.Errorf("help run: exit %d, %q", code, stderr.String())
	}
	if !strings.HasPrefix(stderr.String(), "Usage: connector run [flags]\n\nrun the streaming pipeline") {
		t.Errorf("help run starts %q; want the command's usage line and summary", stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"help", "version"}, &bytes.Buffer{}, &stderr); code != 0 ||
		stderr.String() != "Usage: connector version [flags]\n\nprint the version.\n\nIt takes no flags.\n" {
		t.Errorf("help version: exit %d, %q", code, stderr.String())
	}
	stderr.Reset() // a flag it does not know: the usage line too, once
	if code := run(context.Background(), []string{"run", "-bogus"}, &bytes.Buffer{}, &stderr); code != 2 ||
		strings.Count(stderr.String(), "Usage: connector run [flags]") != 1 || !strings.Contains(stderr.String(), "-bogus") {
		t.Errorf("run -bogus: exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"help"}, &bytes.Buffer{}, &stderr); code != 0 || !strings.Contains(stderr.String(), "Commands:") {
		t.Errorf("help: exit %d, %q", code, stderr.String())
	}
}

// `connector run` without --config and without a config.yaml in the
// working directory says so, instead of a bare "no such file".
func TestRunWithoutConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"run"}, &bytes.Buffer{}, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "no --config given and no config.yaml in the working directory") {
		t.Errorf("run: exit %d, %q", code, stderr.String())
	}
}

// `connector run` without --config reads config.yaml of the working
// directory, and says so.
func TestRunReadsConfigOfTheWorkingDirectory(t *testing.T) {
	brokers := newCluster(t, "crm.accounts")
	_, sfURL := newSalesforce(t, bulkemu.Options{})
	addr := freeAddr(t)
	path := writeConfig(t, brokers, sfURL, clientCredentials, fmt.Sprintf("routes:\n  - topics: [crm.accounts]\n    format: json\n    object: Account\n"+
		"    operation: insert\nhttp:\n  listen: %s\nshutdown_grace: 1s\n", addr))
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yaml"), text, 0o600)
	t.Chdir(dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr lockedBuffer
	go func() { done <- run(ctx, []string{"run"}, io.Discard, &stderr) }()
	waitReady(t, addr, 30*time.Second, "with ./config.yaml", &stderr)
	cancel()
	if code := <-done; code != 0 || !strings.Contains(stderr.String(), `msg="no --config given: reading config.yaml of the working directory" path=config.yaml`) {
		t.Errorf("exit %d, log:\n%s", code, stderr.String())
	}
}
