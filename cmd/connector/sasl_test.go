package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// saslBroker makes a kfake cluster check one SASL mechanism. kfake speaks
// only PLAIN and SCRAM itself, so the test answers SaslHandshake and
// SaslAuthenticate through kfake's control hooks, with check deciding
// each authentication and the session lifetime granted (0: none, as a
// broker without connections.max.reauth.ms). A failed check is answered
// with SASL_AUTHENTICATION_FAILED, as Kafka does. What this cannot do is
// refuse other requests on a connection that did not authenticate (the
// hooks do not see connections); the client under test always
// authenticates first, and the test counts that it did.
func saslBroker(t *testing.T, mechanism string, check func(auth []byte) (lifetime time.Duration, err error), topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.ControlKey(kmsg.SASLHandshake.Int16(), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.SASLHandshakeRequest)
		resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = []string{mechanism}
		if req.Mechanism != mechanism {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		}
		return resp, nil, true
	})
	c.ControlKey(kmsg.SASLAuthenticate.Int16(), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.SASLAuthenticateRequest)
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		lifetime, err := check(req.SASLAuthBytes)
		if err != nil {
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			msg := err.Error()
			resp.ErrorMessage = &msg
			return resp, nil, true
		}
		resp.SessionLifetimeMillis = lifetime.Milliseconds()
		if mechanism == "AWS_MSK_IAM" {
			resp.SASLAuthBytes = []byte(`{"version":"2020_10_22","request-id":"test"}`)
		}
		return resp, nil, true
	})
	return c
}

// tokenEndpoint is an OAuth 2.0 token endpoint of the client credentials
// grant that issues tok-1, tok-2, … valid for lifetime, and remembers
// them. While down is set it answers 503, as an identity provider in an
// outage.
type tokenEndpoint struct {
	*httptest.Server
	lifetime time.Duration
	down     atomic.Bool

	mu     sync.Mutex
	issued map[string]time.Time // token → expiry
}

func newTokenEndpoint(t *testing.T, clientID, secret string, lifetime time.Duration) *tokenEndpoint {
	e := &tokenEndpoint{lifetime: lifetime, issued: map[string]time.Time{}}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.down.Load() {
			http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
			return
		}
		id, sec, _ := r.BasicAuth()
		if r.Method != http.MethodPost || r.FormValue("grant_type") != "client_credentials" || id != clientID || sec != secret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		e.mu.Lock()
		token := fmt.Sprintf("tok-%d", len(e.issued)+1)
		e.issued[token] = time.Now().Add(lifetime)
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":%d,"scope":%q}`, token, int(lifetime.Seconds()), r.FormValue("scope"))
	}))
	t.Cleanup(e.Close)
	return e
}

// check is the broker's side of OAUTHBEARER (RFC 7628 §3.1): the client's
// first message must carry a token this endpoint issued and that has not
// expired, and the extensions asked for; the session lasts until the
// token expires, as Kafka's OAUTHBEARER grants it.
func (e *tokenEndpoint) check(wantExtensions map[string]string, accepted *[]string) func([]byte) (time.Duration, error) {
	return func(msg []byte) (time.Duration, error) {
		gs2, rest, _ := strings.Cut(string(msg), "\x01")
		if gs2 != "n,," {
			return 0, fmt.Errorf("gs2 header %q", gs2)
		}
		kv := map[string]string{}
		for field := range strings.SplitSeq(strings.TrimSuffix(rest, "\x01\x01"), "\x01") {
			k, v, _ := strings.Cut(field, "=")
			kv[k] = v
		}
		token, ok := strings.CutPrefix(kv["auth"], "Bearer ")
		e.mu.Lock()
		defer e.mu.Unlock()
		expiry, issued := e.issued[token]
		if !ok || !issued {
			return 0, fmt.Errorf("unknown token %q", token)
		}
		if left := time.Until(expiry); left <= 0 {
			return 0, fmt.Errorf("token %s expired %s ago", token, -left)
		}
		for k, v := range wantExtensions {
			if kv[k] != v {
				return 0, fmt.Errorf("extension %s=%q, want %q", k, kv[k], v)
			}
		}
		*accepted = append(*accepted, token)
		return time.Until(expiry), nil
	}
}

// disconnects counts the client's broker connections that closed.
type disconnects struct {
	mu sync.Mutex
	n  int
}

func (d *disconnects) OnBrokerDisconnect(kgo.BrokerMetadata, net.Conn) {
	d.mu.Lock()
	d.n++
	d.mu.Unlock()
}

// TestOAuthBearerTokenRefresh: a client made by kafkaOptions from an
// oauthbearer config authenticates with a token from the token endpoint;
// the broker grants sessions only as long as the token lives (6s), and
// while records keep flowing the client fetches a new token before the
// old one expires and re-authenticates its connections with it, without
// a refused authentication, a dropped connection or a lost record.
func TestOAuthBearerTokenRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 9 seconds")
	}
	const lifetime = 6 * time.Second
	idp := newTokenEndpoint(t, "bulkstream", "s3cr3t", lifetime)
	extensions := map[string]string{"logicalCluster": "lkc-1", "identityPoolId": "pool-2"}
	var mu sync.Mutex
	var accepted []string
	check := idp.check(extensions, &accepted)
	var refused []error
	cluster := saslBroker(t, "OAUTHBEARER", func(msg []byte) (time.Duration, error) {
		mu.Lock()
		defer mu.Unlock()
		d, err := check(msg)
		if err != nil {
			refused = append(refused, err)
		}
		return d, err
	}, "events")

	k := config.Default().Kafka
	k.Brokers = cluster.ListenAddrs()
	k.SASL = config.SASL{Mechanism: config.SASLOAuthBearer, OAuth: config.SASLOAuth{TokenURL: idp.URL, ClientID: "bulkstream", ClientSecret: "s3cr3t", Extensions: extensions}}
	opts, err := kafkaOptions(k, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var closed disconnects
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("events"), kgo.ConsumeTopics("events"), kgo.WithHooks(&closed))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const records = 45 // one every 200ms: 9s, past the first token's refresh and expiry
	consumed := make(chan int, 1)
	go func() {
		n := 0
		for n < records && ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachError(func(_ string, _ int32, err error) { t.Errorf("fetch: %v", err) })
			n += fs.NumRecords()
		}
		consumed <- n
	}()
	for i := range records {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := <-consumed; n != records {
		t.Errorf("consumed %d of %d records", n, records)
	}

	mu.Lock()
	defer mu.Unlock()
	closed.mu.Lock()
	defer closed.mu.Unlock()
	tokens := slices.Compact(slices.Clone(accepted))
	if len(refused) > 0 || closed.n > 0 || len(tokens) < 2 {
		t.Errorf("authentications %v, refused %v, connections closed %d: want the tokens to change with none refused and no connection closed", accepted, refused, closed.n)
	}
	t.Logf("authentications with %v", accepted)
}

// TestOAuthBearerCheck: connector check names kafka.sasl.oauth when the
// token endpoint refuses the client, and passes when it issues a token.
func TestOAuthBearerCheck(t *testing.T) {
	idp := newTokenEndpoint(t, "bulkstream", "s3cr3t", time.Hour)
	s := config.SASL{Mechanism: config.SASLOAuthBearer, OAuth: config.SASLOAuth{TokenURL: idp.URL, ClientID: "bulkstream", ClientSecret: "wrong"}}
	if err := checkSASL(context.Background(), s); err == nil || !strings.Contains(err.Error(), "kafka.sasl.oauth") || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong secret: %v", err)
	}
	s.OAuth.ClientSecret = "s3cr3t"
	if err := checkSASL(context.Background(), s); err != nil {
		t.Error(err)
	}
}

// TestOAuthBearerRefreshFails: when the token endpoint fails a refresh
// while the kept token has not expired, authentications go on with that
// token and a warning is logged (without the secret), and each one tries
// the endpoint again; once the token has expired, a failed fetch fails
// the authentication; when the endpoint is back, a new token is used.
func TestOAuthBearerRefreshFails(t *testing.T) {
	idp := newTokenEndpoint(t, "bulkstream", "s3cr3t", time.Hour)
	var logged lockedBuffer
	o := newOAuthTokens(config.SASLOAuth{TokenURL: idp.URL, ClientID: "bulkstream", ClientSecret: "s3cr3t"}, slog.New(slog.NewTextHandler(&logged, nil)))
	start := time.Now()
	now := start
	o.now = func() time.Time { return now }
	ctx := context.Background()
	if a, err := o.auth(ctx); err != nil || a.Token != "tok-1" {
		t.Fatalf("first token: %q, %v", a.Token, err)
	}

	idp.down.Store(true)
	for i, at := range []time.Duration{50 * time.Minute, 59 * time.Minute} { // past the refresh (48 minutes), before the expiry (60)
		now = start.Add(at)
		if a, err := o.auth(ctx); err != nil || a.Token != "tok-1" {
			t.Errorf("refresh %d fails %s after the fetch: %q, %v; want the kept tok-1", i+1, at, a.Token, err)
		}
	}
	if log := logged.String(); strings.Count(log, "level=WARN") != 2 || !strings.Contains(log, "503") || strings.Contains(log, "s3cr3t") {
		t.Errorf("want a warning for each failed refresh, naming the failure and not the secret; log:\n%s", log)
	}

	now = start.Add(61 * time.Minute)
	if a, err := o.auth(ctx); err == nil || !strings.Contains(err.Error(), "kafka.sasl.oauth") {
		t.Errorf("a failed fetch after the token expired: %q, %v; want an error", a.Token, err)
	}

	idp.down.Store(false)
	if a, err := o.auth(ctx); err != nil || a.Token != "tok-2" {
		t.Errorf("the endpoint is back: %q, %v; want tok-2", a.Token, err)
	}
}

// TestCheckWarnsOfSASLInTheClear: connector check passes with a warning
// under kafka.sasl.mechanism when plain, oauthbearer or aws_msk_iam
// authenticates (successfully) without kafka.tls.enabled, since each sends
// what logs in (a password, a bearer token, a signed request) in the
// clear; SCRAM and any mechanism over TLS are not warned of.
func TestCheckWarnsOfSASLInTheClear(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-s3cr3t")
	t.Setenv("AWS_REGION", "eu-west-1")
	idp := newTokenEndpoint(t, "bulkstream", "s3cr3t", time.Hour)
	var accepted []string
	_, sfURL := newSalesforce(t, bulkemu.Options{})
	for _, c := range []struct {
		mechanism, kafkaName string
		sasl                 string // kafka.sasl's keys but mechanism
		check                func([]byte) (time.Duration, error)
		what                 string // what the warning says is sent in the clear
	}{
		{"plain", "PLAIN", "    username: bulkstream\n    password: s3cr3t\n", func(msg []byte) (time.Duration, error) {
			if string(msg) != "\x00bulkstream\x00s3cr3t" {
				return 0, fmt.Errorf("PLAIN message %q", msg)
			}
			return 0, nil
		}, "the password"},
		{"oauthbearer", "OAUTHBEARER", fmt.Sprintf("    oauth:\n      token_url: %s\n      client_id: bulkstream\n      client_secret: s3cr3t\n", idp.URL),
			idp.check(nil, &accepted), "the bearer token"},
		{"aws_msk_iam", "AWS_MSK_IAM", "", func(msg []byte) (time.Duration, error) {
			return 0, sigV4Presigned(msg, "127.0.0.1", "AKIAIOSFODNN7EXAMPLE", "aws-s3cr3t")
		}, "a signed AWS request"},
	} {
		t.Run(c.mechanism, func(t *testing.T) {
			var mu sync.Mutex
			authenticated := 0
			cluster := saslBroker(t, c.kafkaName, func(msg []byte) (time.Duration, error) {
				mu.Lock()
				defer mu.Unlock()
				lifetime, err := c.check(msg)
				if err == nil {
					authenticated++
				}
				return lifetime, err
			}, "crm.accounts")
			path := filepath.Join(t.TempDir(), "config.yaml")
			cfg := fmt.Sprintf("kafka:\n  brokers: [%s]\n  group: sasl-test\n  sasl:\n    mechanism: %s\n%ssalesforce:\n  login_url: %s\n  auth:\n%sroutes:\n  - topics: [crm.accounts]\n    object: Account\n",
				cluster.ListenAddrs()[0], c.mechanism, c.sasl, sfURL, clientCredentials)
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr lockedBuffer
			code := run(context.Background(), []string{"check", "--config", path}, &stdout, &stderr)
			want := "warning: kafka.sasl.mechanism: " + c.mechanism + " without kafka.tls.enabled sends " + c.what + " in the clear on every connection"
			if code != 0 || !strings.HasPrefix(stdout.String(), want) || !strings.HasSuffix(stdout.String(), "ok: 1 route checked against Kafka and Salesforce, 1 warning\n") {
				t.Errorf("exit %d\nstdout:\n%s\nwant a line that starts:\n%s\nstderr:\n%s", code, stdout.String(), want, stderr.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if authenticated == 0 {
				t.Error("the check did not authenticate to the broker")
			}
		})
	}

	for _, k := range []config.Kafka{
		{SASL: config.SASL{Mechanism: config.SASLScramSHA512}},
		{SASL: config.SASL{Mechanism: config.SASLPlain}, TLS: config.TLS{Enabled: true}},
		{SASL: config.SASL{Mechanism: config.SASLOAuthBearer}, TLS: config.TLS{Enabled: true}},
		{SASL: config.SASL{Mechanism: config.SASLAWSMSKIAM}, TLS: config.TLS{Enabled: true}},
		{},
	} {
		if got := saslInTheClear(k); got != "" {
			t.Errorf("mechanism %q, TLS %v: %q, want no warning", k.SASL.Mechanism, k.TLS.Enabled, got)
		}
	}
}

// sigV4Presigned checks an AWS_MSK_IAM message as MSK does: a SigV4
// presigned GET / of kafka-cluster:Connect for host, signed with secret.
// It is written from the SigV4 documentation, not from franz-go's code.
func sigV4Presigned(msg []byte, host, accessKey, secret string) error {
	var m map[string]string
	if err := json.Unmarshal(msg, &m); err != nil {
		return err
	}
	if m["version"] != "2020_10_22" || m["host"] != host || m["action"] != "kafka-cluster:Connect" || m["x-amz-algorithm"] != "AWS4-HMAC-SHA256" || m["x-amz-signedheaders"] != "host" {
		return fmt.Errorf("fields %v", m)
	}
	cred := strings.Split(m["x-amz-credential"], "/") // AKID/date/region/service/aws4_request
	if len(cred) != 5 || cred[0] != accessKey || cred[3] != "kafka-cluster" || cred[4] != "aws4_request" || !strings.HasPrefix(m["x-amz-date"], cred[1]) {
		return fmt.Errorf("credential %q", m["x-amz-credential"])
	}
	signed, err := time.Parse("20060102T150405Z", m["x-amz-date"])
	if err != nil || time.Since(signed).Abs() > time.Minute {
		return fmt.Errorf("x-amz-date %q: %v", m["x-amz-date"], err)
	}
	params := map[string]string{"Action": m["action"], "X-Amz-Algorithm": m["x-amz-algorithm"], "X-Amz-Credential": m["x-amz-credential"],
		"X-Amz-Date": m["x-amz-date"], "X-Amz-Expires": m["x-amz-expires"], "X-Amz-SignedHeaders": m["x-amz-signedheaders"]}
	if tok, ok := m["x-amz-security-token"]; ok {
		params["X-Amz-Security-Token"] = tok
	}
	var query []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		query = append(query, uriEncode(k)+"="+uriEncode(params[k]))
	}
	emptyHash := sha256.Sum256(nil)
	canonical := "GET\n/\n" + strings.Join(query, "&") + "\nhost:" + host + "\n\nhost\n" + hex.EncodeToString(emptyHash[:])
	canonicalHash := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + m["x-amz-date"] + "\n" + strings.Join(cred[1:], "/") + "\n" + hex.EncodeToString(canonicalHash[:])
	key := []byte("AWS4" + secret)
	for _, part := range []string{cred[1], cred[2], cred[3], cred[4], toSign} {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(part))
		key = h.Sum(nil)
	}
	if want := hex.EncodeToString(key); m["x-amz-signature"] != want {
		return fmt.Errorf("signature %s, want %s", m["x-amz-signature"], want)
	}
	return nil
}

// uriEncode is SigV4's URI encoding: unreserved characters as they are,
// every other byte as %XX.
func uriEncode(s string) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// TestAWSMSKIAM: a client made by kafkaOptions from an aws_msk_iam config,
// with credentials from the environment, signs its AWS_MSK_IAM message so
// that an independent SigV4 check with the same secret accepts it, and
// produces through the broker; a wrong secret fails the check.
func TestAWSMSKIAM(t *testing.T) {
	const accessKey, secret, sessionToken = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "session+token/=="
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", sessionToken)
	t.Setenv("AWS_REGION", "eu-west-1") // 127.0.0.1 names no region
	var mu sync.Mutex
	var messages [][]byte
	var refused []error
	cluster := saslBroker(t, "AWS_MSK_IAM", func(msg []byte) (time.Duration, error) {
		mu.Lock()
		defer mu.Unlock()
		messages = append(messages, msg)
		err := sigV4Presigned(msg, "127.0.0.1", accessKey, secret)
		if err != nil {
			refused = append(refused, err)
		}
		return 0, err
	}, "events")
	k := config.Default().Kafka
	k.Brokers = cluster.ListenAddrs()
	k.SASL = config.SASL{Mechanism: config.SASLAWSMSKIAM}
	opts, err := kafkaOptions(k, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("events"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(messages) == 0 || len(refused) > 0 {
		t.Fatalf("%d messages, refused: %v", len(messages), refused)
	}
	var m map[string]string
	json.Unmarshal(messages[0], &m)
	if m["x-amz-security-token"] != sessionToken || !strings.HasPrefix(m["user-agent"], "bulkstream/") || !strings.Contains(m["x-amz-credential"], "/eu-west-1/") {
		t.Errorf("message %v: want the session token, bulkstream's user agent and the region", m)
	}
	if err := sigV4Presigned(messages[0], "127.0.0.1", accessKey, "another secret"); err == nil {
		t.Error("the check accepts a signature made with another secret")
	}
}

// TestAWSCredentialChain: each link of the chain, in its order, with the
// endpoints it asks served locally; temporary credentials are fetched
// again before they expire.
func TestAWSCredentialChain(t *testing.T) {
	dir := t.TempDir()
	shared := filepath.Join(dir, "credentials")
	os.WriteFile(shared, []byte("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n\n[ci]\naws_access_key_id=AKIDCI\naws_secret_access_key=ci-secret\naws_session_token=ci-token\n"), 0o600)
	webToken := filepath.Join(dir, "token")
	os.WriteFile(webToken, []byte("eyJ.projected.token\n"), 0o600)
	authzFile := filepath.Join(dir, "authz")
	os.WriteFile(authzFile, []byte("pod-identity-token"), 0o600)

	expiry := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var calls []string
	var callsMu sync.Mutex
	aws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		callsMu.Lock()
		calls = append(calls, r.Method+" "+r.URL.Path)
		callsMu.Unlock()
		creds := fmt.Sprintf(`{"AccessKeyId":"AKID%s","SecretAccessKey":"s","Token":"t","Expiration":%q}`, strings.ToUpper(strings.Trim(r.URL.Path, "/")[:3]), expiry.Format(time.RFC3339))
		switch {
		case r.URL.Path == "/sts/" && r.FormValue("Action") == "AssumeRoleWithWebIdentity" && r.FormValue("WebIdentityToken") == "eyJ.projected.token" && r.FormValue("RoleArn") == "arn:aws:iam::1:role/bulkstream":
			fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials>
<AccessKeyId>AKIDWEB</AccessKeyId><SecretAccessKey>web-secret</SecretAccessKey><SessionToken>web-token</SessionToken><Expiration>%s</Expiration>
</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`, expiry.Format(time.RFC3339))
		case r.URL.Path == "/pod-identity" && r.Header.Get("Authorization") == "pod-identity-token":
			fmt.Fprint(w, creds)
		case r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut:
			fmt.Fprint(w, "imds-session")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/" && r.Header.Get("X-aws-ec2-metadata-token") == "imds-session":
			fmt.Fprint(w, "node-role")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/node-role" && r.Header.Get("X-aws-ec2-metadata-token") == "imds-session":
			fmt.Fprint(w, strings.Replace(creds, "AKIDLAT", "AKIDIMDS", 1))
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusForbidden)
		}
	}))
	defer aws.Close()

	// Every case sets the metadata endpoint or disables it: nothing here
	// may ask the real 169.254.169.254.
	base := map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": aws.URL, "HOME": dir}
	for _, tc := range []struct {
		name       string
		env        map[string]string
		key, token string // each link answers with its own key
	}{
		{"environment first", map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ROLE_ARN": "arn:aws:iam::1:role/bulkstream", "AWS_WEB_IDENTITY_TOKEN_FILE": webToken},
			"AKIDENV", ""},
		{"web identity (EKS IRSA)", map[string]string{"AWS_ROLE_ARN": "arn:aws:iam::1:role/bulkstream", "AWS_WEB_IDENTITY_TOKEN_FILE": webToken, "AWS_ENDPOINT_URL_STS": aws.URL + "/sts/", "AWS_SHARED_CREDENTIALS_FILE": shared},
			"AKIDWEB", "web-token"},
		{"shared file, default profile", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": shared}, "AKIDFILE", ""},
		{"shared file, AWS_PROFILE", map[string]string{"AWS_SHARED_CREDENTIALS_FILE": shared, "AWS_PROFILE": "ci"}, "AKIDCI", "ci-token"},
		{"container (EKS Pod Identity)", map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": aws.URL + "/pod-identity", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": authzFile},
			"AKIDPOD", "t"},
		{"instance metadata last", nil, "AKIDIMDS", "t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c := newAWSCredentials(func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
			got, err := c.auth(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.AccessKey != tc.key || got.SessionToken != tc.token {
				t.Errorf("got %s (token %q); want %s (%q)", got.AccessKey, got.SessionToken, tc.key, tc.token)
			}
		})
	}

	// Temporary credentials are kept, then fetched again five minutes
	// before they expire.
	env := map[string]string{"AWS_CONTAINER_CREDENTIALS_FULL_URI": aws.URL + "/pod-identity", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": authzFile}
	var logged lockedBuffer
	c := newAWSCredentials(func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(&logged, nil)))
	now := time.Now()
	c.now = func() time.Time { return now }
	count := func() int {
		callsMu.Lock()
		defer callsMu.Unlock()
		return strings.Count(strings.Join(calls, "\n"), "GET /pod-identity")
	}
	before := count()
	c.auth(context.Background())
	now = expiry.Add(-6 * time.Minute)
	c.auth(context.Background())
	if count()-before != 1 {
		t.Errorf("%d fetches before the margin, want 1", count()-before)
	}
	now = expiry.Add(-4 * time.Minute)
	c.auth(context.Background())
	if count()-before != 2 {
		t.Errorf("%d fetches after the margin, want 2", count()-before)
	}

	// A lookup that fails while the kept credentials are valid keeps them,
	// with a warning; once they expired, it fails.
	env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = aws.URL + "/no-such-endpoint"
	now = expiry.Add(-3 * time.Minute)
	if got, err := c.auth(context.Background()); err != nil || got.AccessKey != "AKIDPOD" {
		t.Errorf("a failed lookup before the expiry: %s, %v; want the kept AKIDPOD", got.AccessKey, err)
	}
	if log := logged.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "until they expire") {
		t.Errorf("want a warning of the failed lookup; log:\n%s", log)
	}
	now = expiry.Add(time.Minute)
	if _, err := c.auth(context.Background()); err == nil || !strings.Contains(err.Error(), "aws_msk_iam") {
		t.Errorf("a failed lookup after the expiry: %v; want an error", err)
	}

	none := newAWSCredentials(func(k string) string { return map[string]string{"AWS_EC2_METADATA_DISABLED": "true", "HOME": dir}[k] }, slog.New(slog.DiscardHandler))
	if _, err := none.auth(context.Background()); err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Errorf("no credentials anywhere: %v", err)
	}
}

// A token URL with a password in it (user:password@host) never shows it:
// the error of a failed fetch masks it.
func TestOAuthBearerErrorMasksTheURLsPassword(t *testing.T) {
	idp := newTokenEndpoint(t, "bulkstream", "s3cr3t", time.Hour)
	idp.down.Store(true)
	withPassword := strings.Replace(idp.URL, "://", "://proxy:url-p4ss@", 1)
	o := newOAuthTokens(config.SASLOAuth{TokenURL: withPassword, ClientID: "bulkstream", ClientSecret: "s3cr3t"}, slog.New(slog.DiscardHandler))
	_, err := o.auth(context.Background())
	if err == nil || strings.Contains(err.Error(), "url-p4ss") || !strings.Contains(err.Error(), "proxy:xxxxx@") {
		t.Fatalf("a failed fetch from a token URL with a password: %v; want an error naming the URL with the password masked", err)
	}
}
