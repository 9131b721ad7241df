package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// `connector help CMD` prints the command's own flags, not the list of
// commands; `connector help` alone still lists them.
func TestHelpCommand(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"help", "run"}, &bytes.Buffer{}, &stderr); code != 0 ||
		!strings.Contains(stderr.String(), "-skip-check-errors") || strings.Contains(stderr.String(), "Commands:") {
		t.Errorf("help run: exit %d, %q", code, stderr.String())
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
