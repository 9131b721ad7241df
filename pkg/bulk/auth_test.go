package bulk_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// rsaKey returns a new RSA key and its PEM encoding (PKCS#8).
func rsaKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestJWTBearer(t *testing.T) {
	key, keyPEM := rsaKey(t)
	o := newOrg(t, bulkemu.Options{ClientID: "app", JWTPublicKey: &key.PublicKey, JWTUsername: "integration@acme.com"})
	ctx := testContext(t)
	good := bulk.JWTAssertion{ClientID: "app", Username: "integration@acme.com", PrivateKey: keyPEM}
	tokens, instance, err := bulk.JWTBearer(ctx, o.URL, good)
	if err != nil {
		t.Fatal(err)
	}
	if instance != o.URL {
		t.Fatalf("instance_url %q, want %q", instance, o.URL)
	}
	c, err := bulk.New(instance, tokens, bulk.WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Limits(ctx); err != nil {
		t.Fatalf("request with a JWT bearer token: %v", err)
	}
	// PKCS#1 works as well as PKCS#8.
	pkcs1 := good
	pkcs1.PrivateKey = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if _, _, err := bulk.JWTBearer(ctx, o.URL, pkcs1); err != nil {
		t.Errorf("PKCS#1 key: %v", err)
	}

	_, otherPEM := rsaKey(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	for _, c := range []struct {
		name   string
		change func(*bulk.JWTAssertion)
		code   string
		msg    string
	}{
		{"wrong audience", func(a *bulk.JWTAssertion) { a.Audience = "https://example.com" }, "invalid_grant", "audience is invalid"},
		{"wrong user", func(a *bulk.JWTAssertion) { a.Username = "someone@acme.com" }, "invalid_grant", "user hasn't approved this consumer"},
		{"key the app does not know", func(a *bulk.JWTAssertion) { a.PrivateKey = otherPEM }, "invalid_grant", "invalid assertion"},
		{"wrong client id", func(a *bulk.JWTAssertion) { a.ClientID = "other" }, "invalid_client_id", "client identifier invalid"},
	} {
		a := good
		c.change(&a)
		_, _, err := bulk.JWTBearer(ctx, o.URL, a)
		if e := apiError(t, err); e.StatusCode != http.StatusBadRequest || e.ErrorCode != c.code || e.Message != c.msg {
			t.Errorf("%s: %v, want 400 %s %q", c.name, err, c.code, c.msg)
		}
		if bulk.IsRetryable(err) {
			t.Errorf("%s: refused grant classified retryable", c.name)
		}
	}
	// A key that cannot sign fails before any request, and the key is not
	// in the message.
	o.wire.reset()
	for name, bad := range map[string][]byte{
		"not PEM":    []byte("not a key"),
		"not RSA":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"garbled":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}),
		"a cert-ish": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}),
	} {
		a := good
		a.PrivateKey = bad
		_, _, err := bulk.JWTBearer(ctx, o.URL, a)
		if err == nil || !strings.Contains(err.Error(), "private key") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := len(o.wire.exchanges("", "/services/oauth2/token")); n != 0 {
		t.Errorf("%d token requests with unusable keys", n)
	}
}

func TestRefreshToken(t *testing.T) {
	o := newOrg(t, bulkemu.Options{ClientID: "app", ClientSecret: "s3cret", RefreshToken: "5Aep861-refresh"})
	ctx := testContext(t)
	tokens, instance, err := bulk.RefreshToken(ctx, o.URL, "app", "", "5Aep861-refresh")
	if err != nil {
		t.Fatal(err)
	}
	c, err := bulk.New(instance, tokens, bulk.WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Limits(ctx); err != nil {
		t.Fatalf("request with a refreshed token: %v", err)
	}
	if _, _, err := bulk.RefreshToken(ctx, o.URL, "app", "s3cret", "5Aep861-refresh"); err != nil {
		t.Errorf("with the client secret: %v", err)
	}
	_, _, err = bulk.RefreshToken(ctx, o.URL, "app", "", "revoked")
	if e := apiError(t, err); e.ErrorCode != "invalid_grant" || e.Message != "expired access/refresh token" {
		t.Errorf("revoked refresh token: %v", err)
	}
	if strings.Contains(err.Error(), "revoked") {
		t.Errorf("the refresh token is in the error: %v", err)
	}
}

// A session that expires in the middle of a job is replaced through the
// flow that made it, and the job goes through: each flow's TokenCache
// refreshes on 401 INVALID_SESSION_ID.
func TestSessionExpiresMidJob(t *testing.T) {
	key, keyPEM := rsaKey(t)
	const ttl = 300 * time.Millisecond
	for _, flow := range []struct {
		name  string
		login func(ctx context.Context, url string) (*bulk.TokenCache, string, error)
	}{
		{"client_credentials", func(ctx context.Context, url string) (*bulk.TokenCache, string, error) {
			return bulk.ClientCredentials(ctx, url, "app", "s3cret")
		}},
		{"jwt_bearer", func(ctx context.Context, url string) (*bulk.TokenCache, string, error) {
			return bulk.JWTBearer(ctx, url, bulk.JWTAssertion{ClientID: "app", Username: "u@acme.com", PrivateKey: keyPEM})
		}},
		{"refresh_token", func(ctx context.Context, url string) (*bulk.TokenCache, string, error) {
			return bulk.RefreshToken(ctx, url, "app", "s3cret", "rt")
		}},
	} {
		t.Run(flow.name, func(t *testing.T) {
			o := newOrg(t, bulkemu.Options{ClientID: "app", ClientSecret: "s3cret", TokenTTL: ttl,
				JWTPublicKey: &key.PublicKey, RefreshToken: "rt"})
			ctx := testContext(t)
			tokens, instance, err := flow.login(ctx, o.URL)
			if err != nil {
				t.Fatal(err)
			}
			c, err := bulk.New(instance, tokens, bulk.WithRetry(fastRetry), bulk.WithWaitPolicy(fastWait))
			if err != nil {
				t.Fatal(err)
			}
			job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(ttl + 100*time.Millisecond) // the session dies between create and upload
			if err := c.UploadJobData(ctx, job.ID, strings.NewReader(accounts("mid", 50))); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CloseIngestJob(ctx, job.ID); err != nil {
				t.Fatal(err)
			}
			done, err := c.WaitIngestJob(ctx, job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if done.State != bulk.StateJobComplete || done.NumberRecordsProcessed != 50 || done.NumberRecordsFailed != 0 {
				t.Fatalf("job %+v", done)
			}
			// The upload finds the session expired. A loaded machine may
			// take longer than ttl over the login and the create, or over
			// the rest of the job after the refresh, and have a request
			// refused there too: each refusal takes one refresh, no more.
			refused, uploadRefused := 0, false
			for _, x := range o.wire.exchanges("", "/jobs/ingest") {
				if x.Status == http.StatusUnauthorized {
					refused++
					uploadRefused = uploadRefused || (x.Method == http.MethodPut && strings.HasSuffix(x.Path, "/batches"))
				}
			}
			if !uploadRefused {
				t.Errorf("the upload was not refused: the session did not expire between create and upload")
			}
			if n := len(o.wire.exchanges(http.MethodPost, "/services/oauth2/token")); n != refused+1 {
				t.Errorf("%d token requests for %d refused requests, want %d: the login and one refresh for each", n, refused, refused+1)
			}
		})
	}
}
