package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/internal/metrics"
	"github.com/bulkstream/bulkstream/internal/pacer"
	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// salesforceClient logs in with the configured flow and returns a client
// for the org's instance whose requests, token requests included, are
// reported to status.
func salesforceClient(ctx context.Context, c config.Salesforce, log *slog.Logger, status *salesforceStatus) (*bulk.Client, error) {
	tokenClient := &http.Client{Timeout: c.Timeout, Transport: observedTransport{http.DefaultTransport, status.request}}
	tokens, instance, err := salesforceLogin(context.WithValue(ctx, oauth2.HTTPClient, tokenClient), c)
	if err != nil {
		return nil, err
	}
	if c.InstanceURL != "" {
		instance = c.InstanceURL
	}
	log.Info("salesforce session", "flow", c.Auth.Flow, "instance_url", instance, "api_version", c.APIVersion)
	return bulk.New(instance, tokens,
		bulk.WithAPIVersion(c.APIVersion),
		bulk.WithHTTPClient(&http.Client{Timeout: c.Timeout}),
		bulk.WithWaitPolicy(bulk.WaitPolicy{Initial: c.PollInterval, Max: c.PollMaxInterval}),
		bulk.WithRequestObserver(status.request),
		bulk.WithLimitObserver(status.usage),
		bulk.WithLogger(log))
}

// salesforceLogin gets the first token of the configured flow, and a source
// that renews it when Salesforce refuses it. Token requests use the HTTP
// client in ctx under oauth2.HTTPClient.
func salesforceLogin(ctx context.Context, c config.Salesforce) (oauth2.TokenSource, string, error) {
	a := c.Auth
	var (
		tokens   *bulk.TokenCache
		instance string
		err      error
	)
	switch a.Flow {
	case config.FlowJWTBearer:
		key := []byte(a.PrivateKey)
		if a.PrivateKeyFile != "" {
			if key, err = os.ReadFile(a.PrivateKeyFile); err != nil {
				return nil, "", fmt.Errorf("salesforce.auth.private_key_file: %w", err)
			}
		}
		tokens, instance, err = bulk.JWTBearer(ctx, c.LoginURL, bulk.JWTAssertion{
			ClientID: a.ClientID, Username: a.Username, Audience: a.Audience, PrivateKey: key})
	case config.FlowRefreshToken:
		tokens, instance, err = bulk.RefreshToken(ctx, c.LoginURL, a.ClientID, string(a.ClientSecret), string(a.RefreshToken))
	case config.FlowAccessToken:
		return fixedToken(string(a.AccessToken)), c.InstanceURL, nil
	default:
		tokens, instance, err = bulk.ClientCredentials(ctx, c.LoginURL, a.ClientID, string(a.ClientSecret))
	}
	if err != nil {
		return nil, "", fmt.Errorf("salesforce login at %s (%s flow): %w", c.LoginURL, a.Flow, err)
	}
	return tokens, instance, nil
}

// errAccessTokenRefused is what every request gets once Salesforce has
// refused the configured access token.
var errAccessTokenRefused = errors.New("salesforce.auth.access_token was refused, and the access_token flow cannot get another; use an OAuth flow for long runs")

// fixedToken is the access_token flow's source: the configured token,
// until Salesforce refuses it.
func fixedToken(token string) *bulk.TokenCache {
	given := false // read and written by fetch, which TokenCache runs one at a time
	return bulk.NewTokenCache(func(context.Context) (*oauth2.Token, error) {
		if given {
			return nil, errAccessTokenRefused
		}
		given = true
		return &oauth2.Token{AccessToken: token, TokenType: "Bearer"}, nil
	})
}

// observedTransport reports each token request to observe as endpoint
// oauth.token, with its HTTP status or 0 when there was no answer.
type observedTransport struct {
	next    http.RoundTripper
	observe func(endpoint string, status int)
}

func (t observedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	t.observe("oauth.token", status)
	return resp, err
}

// salesforceStatus receives what the Salesforce client sees, feeds the
// metrics (bulkstream_salesforce_api_calls_total and
// bulkstream_salesforce_api_usage_ratio) and remembers the latest call for
// /readyz. Its methods are called by every goroutine that makes requests;
// the latest call is an atomic pointer, swapped whole.
type salesforceStatus struct {
	metrics *metrics.Pipeline // nil: no metrics
	pacer   *pacer.Pacer      // nil: no pacing
	last    atomic.Pointer[apiCall]
}

// apiCall is one request to Salesforce, as the readiness check sees it.
type apiCall struct {
	endpoint string
	status   int // 0: no answer
	at       time.Time
}

// healthy reports whether the call shows the org reachable and the session
// usable: an answer that is neither a server error, nor a refused token
// (401, or a token endpoint error), nor 403 (the org's API requests used
// up, or access refused).
func (c *apiCall) healthy() bool {
	switch {
	case c.status == 0, c.status >= 500, c.status == http.StatusUnauthorized, c.status == http.StatusForbidden:
		return false
	case c.endpoint == "oauth.token":
		return c.status == http.StatusOK
	}
	return true
}

func (s *salesforceStatus) request(endpoint string, status int) {
	s.last.Store(&apiCall{endpoint: endpoint, status: status, at: time.Now()})
	if s.metrics != nil {
		code := strconv.Itoa(status)
		if status == 0 {
			code = "none"
		}
		s.metrics.APICalls.WithLabelValues(endpoint, code).Inc()
	}
}

func (s *salesforceStatus) usage(l bulk.LimitInfo) {
	if s.pacer != nil {
		s.pacer.ObserveUsage(l.Used, l.Max)
	}
	if s.metrics != nil && l.Max > 0 {
		s.metrics.APIUsage.Set(float64(l.Used) / float64(l.Max))
	}
}
