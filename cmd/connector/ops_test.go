package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// writeConfig writes a configuration file for the cluster and the org, with
// the given salesforce.auth lines and routes.
func writeConfig(t *testing.T, brokers, loginURL, auth, rest string) string {
	t.Helper()
	cfg := fmt.Sprintf("kafka:\n  brokers: [%s]\n  group: ops-test\nsalesforce:\n  login_url: %s\n  auth:\n%s%s", brokers, loginURL, auth, rest)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const clientCredentials = "    client_id: bulkstream\n    client_secret: bulkstream\n"

func newCluster(t *testing.T, topics ...string) string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()[0]
}

func newSalesforce(t *testing.T, opts bulkemu.Options) (*bulkemu.Emulator, string) {
	t.Helper()
	emu := bulkemu.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var apiCallLine = regexp.MustCompile(`(?m)^bulkstream_salesforce_api_calls_total\{code="([0-9]+|none)",endpoint="([a-z.]+)"\} ([0-9.e+]+)$`)

// `connector run` counts every Salesforce request by endpoint and status,
// reports the org's API usage, and answers /healthz and /readyz with JSON.
func TestRunMetricsAndHealth(t *testing.T) {
	brokers := newCluster(t, "crm.accounts")
	_, sfURL := newSalesforce(t, bulkemu.Options{DailyAPIRequests: 1000})
	httpAddr := freeAddr(t)
	path := writeConfig(t, brokers, sfURL, clientCredentials, fmt.Sprintf(`routes:
  - topics: [crm.accounts]
    format: json
    object: Account
    operation: upsert
    external_id_field: External_Id__c
    fields: [Name]
batch:
  max_age: 50ms
  max_records: 10
http:
  listen: %s
shutdown_grace: 5s
`, httpAddr))
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics("bulkstream.success", "bulkstream.failure"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 30 {
		cl.Produce(context.Background(), &kgo.Record{Topic: "crm.accounts", Value: fmt.Appendf(nil, `{"External_Id__c":"M-%d","Name":"Metrics %d"}`, i, i)}, nil)
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr lockedBuffer
	go func() { done <- run(ctx, []string{"run", "--config", path}, io.Discard, &stderr) }()
	results := 0
	for deadline := time.Now().Add(30 * time.Second); results < 30 && time.Now().Before(deadline); {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		results += cl.PollFetches(pctx).NumRecords()
		pcancel()
	}
	if results != 30 {
		t.Fatalf("%d results of 30; log:\n%s", results, stderr.String())
	}

	code, body := httpGet(t, "http://"+httpAddr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	calls := map[string]float64{} // "endpoint code" → count
	var apiCalls float64          // requests to the API, not to the token endpoint
	for _, m := range apiCallLine.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.ParseFloat(m[3], 64)
		calls[m[2]+" "+m[1]] = n
		if m[2] != "oauth.token" {
			apiCalls += n
		}
	}
	jobs := calls["ingest.create 200"]
	if jobs < 3 || calls["oauth.token 200"] != 1 || calls["limits 200"] != 1 || calls["describe 200"] != 1 ||
		calls["ingest.upload 201"] != jobs || calls["ingest.close 200"] != jobs ||
		calls["ingest.get 200"] < jobs || calls["ingest.results 200"] < jobs {
		t.Errorf("implausible API call counts: %v\n%s", calls, apiCallLine.FindAllString(body, -1))
	}
	for k := range calls {
		if !strings.HasSuffix(k, " 200") && !strings.HasSuffix(k, " 201") {
			t.Errorf("unexpected call %s", k)
		}
	}
	ratio := regexp.MustCompile(`(?m)^bulkstream_salesforce_api_usage_ratio ([0-9.e+-]+)$`).FindStringSubmatch(body)
	if ratio == nil {
		t.Fatalf("no bulkstream_salesforce_api_usage_ratio in /metrics")
	}
	// The emulator counts each API request against the 1000 a day; the
	// gauge holds the count of the latest answer.
	if r, _ := strconv.ParseFloat(ratio[1], 64); r <= 0 || r*1000 > apiCalls {
		t.Errorf("usage ratio %v with %v API calls of 1000", r, apiCalls)
	}

	code, body = httpGet(t, "http://"+httpAddr+"/readyz")
	var ready struct {
		Ready  bool
		Checks []struct {
			Name   string
			OK     bool
			Reason string
		}
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil || code != 200 || !ready.Ready || len(ready.Checks) != 2 ||
		!ready.Checks[0].OK || !ready.Checks[1].OK || !strings.Contains(ready.Checks[1].Reason, "answered 200") {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, body := httpGet(t, "http://"+httpAddr+"/healthz"); code != 200 || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Errorf("/healthz: %d %s", code, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "access_token") {
		t.Errorf("a token in the log:\n%s", stderr.String())
	}
}

// /readyz reports Salesforce unready while its latest call failed, and asks
// the org again once that failure is old, at most once per probeAfter.
func TestReadinessProbesSalesforce(t *testing.T) {
	emu, sfURL := newSalesforce(t, bulkemu.Options{})
	status := &salesforceStatus{}
	sf, err := bulk.New(sfURL, fixedToken(emu.Token()), bulk.WithRequestObserver(status.request))
	if err != nil {
		t.Fatal(err)
	}
	rd := &readiness{status: status, sf: sf}
	ctx := context.Background()
	if c := rd.salesforce(ctx); !c.OK || c.Reason != "no API call yet" {
		t.Errorf("before any call: %+v", c)
	}
	status.request("ingest.create", 503)
	if c := rd.salesforce(ctx); c.OK || !strings.Contains(c.Reason, "(ingest.create) answered 503") {
		t.Errorf("after a 503: %+v", c)
	}
	status.last.Store(&apiCall{endpoint: "ingest.get", status: 0, at: time.Now().Add(-time.Minute)})
	if c := rd.salesforce(ctx); !c.OK || !strings.Contains(c.Reason, "(limits) answered 200") {
		t.Errorf("an old failure is probed again: %+v", c)
	}
	status.last.Store(&apiCall{endpoint: "oauth.token", status: 400, at: time.Now().Add(-time.Minute)})
	if c := rd.salesforce(ctx); c.OK || !strings.Contains(c.Reason, "(oauth.token) answered 400") {
		t.Errorf("a second probe within %s: %+v", probeAfter, c)
	}
}

// `connector check` prints one line per problem and fails on errors; a
// configuration that fits passes.
func TestCheckCommand(t *testing.T) {
	brokers := newCluster(t, "crm.accounts", "crm.contacts")
	_, sfURL := newSalesforce(t, bulkemu.Options{})
	bad := writeConfig(t, brokers, sfURL, clientCredentials, `routes:
  - name: accounts
    topics: [crm.accounts, crm.acounts]
    format: json
    object: Account
    operation: update
    fields: [Id, Nme, CreatedDate]
  - topics: [crm.contacts]
    format: json
    object: Contact
    operation: upsert
    external_id_field: Email
    fields: [External_Id__c, Acount.External_Id__c]
`)
	var stdout, stderr lockedBuffer
	code := run(context.Background(), []string{"check", "--config", bad}, &stdout, &stderr)
	want := `error: routes[0].topics[1] (accounts): topic crm.acounts: does not exist (or the client may not describe it)
error: routes[0].fields[1] (accounts): Account.Nme: no such field on Account
error: routes[0].fields[2] (accounts): Account.CreatedDate: not updateable for this user, and the route does update
error: routes[1].external_id_field: Contact.Email: not an external id field; upsert matches records on an external id (or Id)
error: routes[1].fields[1]: Contact.Acount.External_Id__c: Contact has no relationship named Acount
warning: routes[1].fields: Contact.LastName: required on create and not declared; records that create without it fail with REQUIRED_FIELD_MISSING
`
	if code != 1 || stdout.String() != want || strings.TrimSpace(stderr.String()) != "connector check: 5 errors, 1 warning" {
		t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", code, stdout.String(), want, stderr.String())
	}

	good := writeConfig(t, brokers, sfURL, clientCredentials, "routes:\n  - topics: [crm.accounts]\n    object: Account\n    fields: [Name]\n  - topics: [crm.contacts]\n")
	stdout, stderr = lockedBuffer{}, lockedBuffer{}
	if code := run(context.Background(), []string{"check", "--config", good}, &stdout, &stderr); code != 0 ||
		stdout.String() != "ok: 2 routes checked against Kafka and Salesforce, 0 warnings\n" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
}

// `connector run` refuses to start on check errors, unless told to take
// them as warnings.
func TestRunRefusesOnCheckErrors(t *testing.T) {
	brokers := newCluster(t, "crm.accounts")
	_, sfURL := newSalesforce(t, bulkemu.Options{})
	httpAddr := freeAddr(t)
	path := writeConfig(t, brokers, sfURL, clientCredentials, fmt.Sprintf(`routes:
  - topics: [crm.accounts]
    format: json
    object: Acount
    operation: insert
http:
  listen: %s
`, httpAddr))
	var stderr lockedBuffer
	code := run(context.Background(), []string{"run", "--config", path}, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), `problem="error: routes[0].object: Acount: no such object in the org (or the user may not see it)"`) ||
		!strings.Contains(stderr.String(), "connector run: the start-up check found 1 error (logged above; `connector check` lists them); fix them, or start anyway with --skip-check-errors or check: warn") {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	stderr = lockedBuffer{}
	go func() {
		done <- run(ctx, []string{"run", "--config", path, "--skip-check-errors"}, io.Discard, &stderr)
	}()
	waitReady(t, httpAddr, 20*time.Second, "with --skip-check-errors", &stderr)
	cancel()
	if code := <-done; code != 0 || !strings.Contains(stderr.String(), `level=WARN msg="start-up check" problem="error: routes[0].object`) {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
}

// pemFiles writes a new RSA key pair as PEM files: the private key
// (PKCS#8) for the connector, the public key (PKIX) for the emulator.
func pemFiles(t *testing.T) (privatePath, publicPath string, private []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	dir := t.TempDir()
	privatePath, publicPath = filepath.Join(dir, "jwt.key"), filepath.Join(dir, "jwt.pub")
	private = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	os.WriteFile(privatePath, private, 0o600)
	os.WriteFile(publicPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
	return privatePath, publicPath, private
}

// Every flow logs in to `connector emulator` started with the JWT public
// key and a refresh token; a refused login is one problem that does not
// show the secret.
func TestAuthFlows(t *testing.T) {
	keyFile, pubFile, keyPEM := pemFiles(t)
	base, _ := startEmulator(t, "--quiet", "--jwt-public-key", pubFile, "--jwt-username", "integration@acme.com", "--refresh-token", "5Aep861-rt")
	brokers := newCluster(t, "crm.accounts")
	_, body := token(t, http.DefaultClient, base, "bulkstream", "bulkstream")
	accessToken := regexp.MustCompile(`"access_token":"([^"]+)"`).FindStringSubmatch(body)[1]
	t.Setenv("TEST_JWT_KEY", string(keyPEM))
	t.Setenv("TEST_ACCESS_TOKEN", accessToken)
	routes := "routes:\n  - topics: [crm.accounts]\n    object: Account\n"
	for _, c := range []struct {
		name string
		auth string
		rest string
		want string // "" for a passing check, else a line of its output
	}{
		{"client_credentials", clientCredentials, routes, ""},
		{"jwt_bearer with a key file", fmt.Sprintf("    flow: jwt_bearer\n    client_id: bulkstream\n    username: integration@acme.com\n    private_key_file: %s\n", keyFile), routes, ""},
		{"jwt_bearer with the key from the environment", "    flow: jwt_bearer\n    client_id: bulkstream\n    username: integration@acme.com\n    private_key: ${TEST_JWT_KEY}\n", routes, ""},
		{"refresh_token", "    flow: refresh_token\n    client_id: bulkstream\n    refresh_token: 5Aep861-rt\n", routes, ""},
		{"access_token", "    flow: access_token\n    access_token: ${TEST_ACCESS_TOKEN}\n", "  instance_url: " + base + "\n" + routes, ""},
		{"jwt_bearer for a user the app does not know", "    flow: jwt_bearer\n    client_id: bulkstream\n    username: someone@acme.com\n    private_key: ${TEST_JWT_KEY}\n", routes,
			"error: salesforce.auth: salesforce login at " + base + " (jwt_bearer flow): jwt bearer grant: invalid_grant (HTTP 400): user hasn't approved this consumer"},
		{"revoked refresh token", "    flow: refresh_token\n    client_id: bulkstream\n    refresh_token: revoked-rt\n", routes,
			"error: salesforce.auth: salesforce login at " + base + " (refresh_token flow): refresh token grant: invalid_grant (HTTP 400): expired access/refresh token"},
		{"refused access token", "    flow: access_token\n    access_token: 00Dnot-a-session\n", "  instance_url: " + base + "\n" + routes,
			"error: salesforce: the org does not answer: limits: INVALID_SESSION_ID (HTTP 401): Session expired or invalid; refresh token: " + errAccessTokenRefused.Error()},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, brokers, base, c.auth, c.rest)
			var stdout, stderr lockedBuffer
			code := run(context.Background(), []string{"check", "--config", path}, &stdout, &stderr)
			out := stdout.String()
			switch {
			case c.want == "" && (code != 0 || !strings.HasPrefix(out, "ok: 1 route checked")):
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
			case c.want != "" && (code != 1 || !strings.Contains(out, c.want+"\n")):
				t.Errorf("exit %d\nstdout:\n%s\nwant the line:\n%s\nstderr:\n%s", code, out, c.want, stderr.String())
			}
			for _, secret := range []string{"5Aep861-rt", "revoked-rt", accessToken, "00Dnot-a-session", "PRIVATE KEY"} {
				if strings.Contains(out+stderr.String(), secret) {
					t.Errorf("output shows a secret (%.12s...)", secret)
				}
			}
		})
	}
}

// A Salesforce that answers 503 at start is waited for: the start-up check
// is made again until it can be, and `connector run` then starts, instead
// of refusing to start over an outage.
func TestStartUpCheckWaitsForSalesforce(t *testing.T) {
	brokers := newCluster(t, "crm.accounts")
	emu, sfURL := newSalesforce(t, bulkemu.Options{})
	httpAddr := freeAddr(t)
	path := writeConfig(t, brokers, sfURL, clientCredentials, fmt.Sprintf(`routes:
  - topics: [crm.accounts]
    format: json
    object: Account
    operation: insert
http:
  listen: %s
`, httpAddr))
	emu.SetFaults(bulkemu.Faults{Seed: 1, HTTPErrorRate: 1}) // the token endpoint still answers
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr lockedBuffer
	go func() { done <- run(ctx, []string{"run", "--config", path}, io.Discard, &stderr) }()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr.String(), "start-up check could not be made; trying again"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no retry of the start-up check logged:\n%s", stderr.String())
		}
	}
	select {
	case code := <-done:
		t.Fatalf("run gave up during the outage (exit %d):\n%s", code, stderr.String())
	default:
	}
	emu.SetFaults(bulkemu.Faults{})
	waitReady(t, httpAddr, 30*time.Second, "after Salesforce came back", &stderr)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
}

// waitReady waits until /readyz at addr answers 200, or fails the test
// after timeout, saying when (what) and what the connector logged.
func waitReady(t *testing.T, addr string, timeout time.Duration, what string, log *lockedBuffer) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready %s:\n%s", what, log.String())
		}
	}
}
