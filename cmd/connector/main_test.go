package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer that the command and the test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startEmulator runs `connector emulator` with args on a free port and
// returns its base URL; the emulator stops when the test ends.
func startEmulator(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, append([]string{"emulator", "--addr", "127.0.0.1:0"}, args...), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("emulator exited %d: %s", code, stderr)
		}
	})
	re := regexp.MustCompile(`on (https?://[0-9.:]+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stderr
		}
	}
	t.Fatalf("emulator did not start: %s %s", stdout, stderr)
	return "", nil
}

func token(t *testing.T, client *http.Client, base, id, secret string) (*http.Response, string) {
	t.Helper()
	resp, err := client.PostForm(base+"/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestEmulatorCommandServesAndLogs(t *testing.T) {
	base, log := startEmulator(t, "--client-id", "ci", "--client-secret", "pw")
	if resp, body := token(t, http.DefaultClient, base, "ci", "pw"); resp.StatusCode != 200 || !strings.Contains(body, `"instance_url":"`+base+`"`) {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := token(t, http.DefaultClient, base, "bulkstream", "bulkstream"); resp.StatusCode != 400 {
		t.Fatalf("default credentials accepted after --client-id: %d", resp.StatusCode)
	}
	if !strings.Contains(log.String(), "path=/services/oauth2/token status=200") {
		t.Fatalf("no request log line: %s", log)
	}
}

func TestEmulatorCommandTLSAndOrgFile(t *testing.T) {
	dir := t.TempDir()
	orgFile := filepath.Join(dir, "org.yaml")
	os.WriteFile(orgFile, []byte("objects:\n  - name: Invoice__c\n    key_prefix: a01\n    fields:\n      - {name: Number__c, type: string, external_id: true, unique: true}\n"), 0o644)
	certFile := filepath.Join(dir, "cert.pem")
	base, _ := startEmulator(t, "--tls", "--tls-cert-out", certFile, "--org", orgFile, "--quiet")
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("base URL %s", base)
	}
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	_, body := token(t, client, base, "bulkstream", "bulkstream")
	tok := regexp.MustCompile(`"access_token":"([^"]+)"`).FindStringSubmatch(body)
	if tok == nil {
		t.Fatalf("token over TLS: %s", body)
	}
	req, _ := http.NewRequest("GET", base+"/services/data/v62.0/sobjects/Invoice__c/describe", nil)
	req.Header.Set("Authorization", "Bearer "+tok[1])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("custom object from --org: %d", resp.StatusCode)
	}
}

func TestCommandLineErrors(t *testing.T) {
	dir := t.TempDir()
	badOrg := filepath.Join(dir, "org.yaml")
	os.WriteFile(badOrg, []byte("objects:\n  - name: X__c\n    key_prefx: a02\n"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage: connector <command>"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"emulator", "--lock-error-rate", "2"}, 2, "--lock-error-rate must be between 0 and 1"},
		{[]string{"emulator", "--no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{[]string{"emulator", "--addr", "127.0.0.1:0", "--org", badOrg}, 1, "key_prefx"},
		{[]string{"version", "extra"}, 2, `unexpected argument "extra"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &stdout, io.Discard); code != 0 || !strings.HasPrefix(stdout.String(), "bulkstream ") {
		t.Errorf("version: %d %q", code, stdout.String())
	}
}
