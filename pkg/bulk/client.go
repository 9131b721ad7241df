package bulk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// DefaultAPIVersion is the Salesforce API version the client speaks unless
// WithAPIVersion says otherwise.
const DefaultAPIVersion = "62.0"

// Version is the version of this client; the default User-Agent is
// "bulkstream/" + Version.
const Version = "0.1.0"

// Client talks to the Bulk API 2.0 of one Salesforce org. It is safe for
// concurrent use by many goroutines; the readers it returns are not.
//
// Every request carries a bearer token from the client's token source. A
// request that fails transiently (see IsRetryable) is tried again under the
// RetryPolicy, except where a retry could repeat an effect: each method's
// documentation says what it does. A 401 INVALID_SESSION_ID makes the client
// ask the token source for a new token (see Refresher) and try again: at once
// the first time in a call, and under the RetryPolicy's back-off and attempts
// after that, since a session can be revoked again right after a refresh. A
// token endpoint that refuses the credentials themselves (see
// IsCredentialsRefused) ends the call at once.
type Client struct {
	base      string // instance URL: scheme://host[:port], no trailing slash
	version   string
	tokens    oauth2.TokenSource
	hc        *http.Client
	retry     RetryPolicy
	wait      WaitPolicy
	gzipUp    bool
	userAgent string
	log       *slog.Logger
	observe   func(LimitInfo)
	onRequest func(endpoint string, status int)
	lastLimit atomic.Pointer[LimitInfo]
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client. The default is a client on
// http.DefaultTransport with no overall timeout, because an upload of
// 100 MB can take minutes; contexts bound each call instead. A nil client
// keeps the default.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithAPIVersion sets the API version, written like "62.0" (no leading v).
// The default is DefaultAPIVersion. Query results must be fetched with the
// version the query job was created with, or Salesforce answers 409.
func WithAPIVersion(v string) Option { return func(c *Client) { c.version = v } }

// WithRetry sets how transient failures are retried; zero fields take their
// defaults (see RetryPolicy).
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithWaitPolicy sets how WaitIngestJob and WaitQueryJob poll; zero fields
// take their defaults (see WaitPolicy).
func WithWaitPolicy(p WaitPolicy) Option { return func(c *Client) { c.wait = p } }

// WithLimitObserver registers f to be called with the Sforce-Limit-Info of
// every response that has one. f runs on the goroutine that made the
// request, before the call returns, so it must be quick and safe for
// concurrent use. The default is no observer; LastLimitInfo works either way.
func WithLimitObserver(f func(LimitInfo)) Option { return func(c *Client) { c.observe = f } }

// WithRequestObserver registers f to be called once for every HTTP request
// the client sends, retries and the try after a token refresh included, with
// the endpoint's name and the response's HTTP status, or 0 when no response
// came back (a broken connection, a timeout). Token requests are not
// observed: the token source makes them. The default is no observer.
//
// Endpoint names are a fixed set, fit for a metric label: ingest.create,
// ingest.upload, ingest.close, ingest.abort, ingest.get, ingest.delete,
// ingest.list, ingest.results, query.create, query.get, query.abort,
// query.delete, query.list, query.results, limits and describe.
//
// f runs on the goroutine that made the request, before the call returns,
// so it must be quick and safe for concurrent use.
func WithRequestObserver(f func(endpoint string, status int)) Option {
	return func(c *Client) { c.onRequest = f }
}

// WithLogger sets the logger for retries and token refreshes (at Warn) and
// requests (at Debug). The default discards everything. Tokens are never
// logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithGzipUpload makes UploadJobData compress job data with gzip on the fly
// (Content-Encoding: gzip), which saves bandwidth at some CPU cost. The
// default is off. A compressed upload is retried only if its reader is an
// io.Seeker, because the compressor reads ahead of the network.
func WithGzipUpload(on bool) Option { return func(c *Client) { c.gzipUp = on } }

// WithUserAgent sets the User-Agent header. The default is
// "bulkstream/" + Version.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

var versionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]$`)

// New returns a client for the org at instanceURL (the instance_url of the
// token response, e.g. https://acme.my.salesforce.com) that authenticates
// with tokens. The client knows nothing of OAuth flows; see ClientCredentials
// and TokenCache for sources that can be refreshed.
func New(instanceURL string, tokens oauth2.TokenSource, opts ...Option) (*Client, error) {
	u, err := url.Parse(instanceURL)
	if err != nil {
		return nil, fmt.Errorf("instance URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("instance URL %q: want scheme://host[:port] with no path", instanceURL)
	}
	if tokens == nil {
		return nil, errors.New("no token source")
	}
	c := &Client{
		base:      u.Scheme + "://" + u.Host,
		version:   DefaultAPIVersion,
		tokens:    tokens,
		hc:        &http.Client{},
		userAgent: "bulkstream/" + Version,
		log:       slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(c)
	}
	if !versionPattern.MatchString(c.version) {
		return nil, fmt.Errorf("API version %q: want a version like %q", c.version, DefaultAPIVersion)
	}
	if c.retry, err = c.retry.withDefaults(); err != nil {
		return nil, err
	}
	if c.wait, err = c.wait.withDefaults(); err != nil {
		return nil, err
	}
	return c, nil
}

// InstanceURL returns the org's base URL the client sends requests to.
func (c *Client) InstanceURL() string { return c.base }

// APIVersion returns the API version the client speaks, like "62.0".
func (c *Client) APIVersion() string { return c.version }

// RetryPolicy says how the client retries a request that failed
// transiently. Waits grow exponentially with full jitter: before try n+1 the
// client sleeps a random duration in [0, min(Cap, Base·2^(n-1))).
type RetryPolicy struct {
	// MaxAttempts is the number of tries of one request, the first
	// included. Zero means 5; 1 turns retries off.
	MaxAttempts int
	// Base is the upper bound of the first wait. Zero means 250ms.
	Base time.Duration
	// Cap bounds every wait. Zero means 30s.
	Cap time.Duration
	// LimitBackoff is added to the wait after REQUEST_LIMIT_EXCEEDED,
	// because an org's request budget comes back slowly. Zero means 1m.
	LimitBackoff time.Duration
}

func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 || p.Base < 0 || p.Cap < 0 || p.LimitBackoff < 0 {
		return p, fmt.Errorf("retry policy %+v: negative value", p)
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 5
	}
	if p.Base == 0 {
		p.Base = 250 * time.Millisecond
	}
	if p.Cap == 0 {
		p.Cap = 30 * time.Second
	}
	if p.LimitBackoff == 0 {
		p.LimitBackoff = time.Minute
	}
	return p, nil
}

// backoff returns the wait after the attempt-th try failed.
func (p RetryPolicy) backoff(attempt int, limitExceeded bool) time.Duration {
	ceil := p.Base
	for i := 1; i < attempt && ceil < p.Cap; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.Cap)
	var d time.Duration
	if ceil > 0 {
		d = rand.N(ceil)
	}
	if limitExceeded {
		d += p.LimitBackoff
	}
	return d
}

// retryMode says which failures of a request may be retried.
type retryMode int

const (
	// retryAlways: repeating the request is harmless (reads, deletes,
	// state changes that are checked afterwards, creating an empty job).
	retryAlways retryMode = iota
	// retryUnlessActed: repeating the request after the server may have
	// carried it out would do its work twice, so only failures that show
	// it did not (see mayHaveActed) are retried.
	retryUnlessActed
)

// request is one API call, possibly sent several times.
type request struct {
	endpoint        string // the name request observers get, e.g. ingest.create
	method          string
	path            string // absolute: /services/data/v62.0/...
	query           url.Values
	contentType     string
	contentEncoding string
	accept          string
	body            payload
	retry           retryMode

	// ambiguous is set by do when a try failed after the server may have
	// acted on it and a later try was made; a refusal of that later try
	// may then be the consequence of the first one.
	ambiguous bool
}

func (r *request) replayable() bool { return r.body == nil || r.body.replayable() }

// payload is a request body that may be sent more than once.
type payload interface {
	// open returns the body of one try and its length (-1 if unknown).
	open() (io.ReadCloser, int64, error)
	// release is called when the try is over; afterwards the payload
	// must not read its source any more.
	release()
	// replayable reports whether open may be called again.
	replayable() bool
}

type bytesBody []byte

func (b bytesBody) open() (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}
func (bytesBody) release()         {}
func (bytesBody) replayable() bool { return true }

const (
	contentTypeJSON = "application/json; charset=UTF-8"
	contentTypeCSV  = "text/csv; charset=UTF-8"
)

func (c *Client) apiPath(p string) string { return "/services/data/v" + c.version + p }

// do sends req, retrying as its retryMode and the client's RetryPolicy
// allow, and returns the response of the first try that succeeded (2xx).
// The caller closes the response body. A non-2xx answer is an *APIError.
func (c *Client) do(ctx context.Context, req *request) (*http.Response, error) {
	refreshed := false
	for attempt := 1; ; attempt++ {
		resp, tok, err := c.send(ctx, req)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if tok != nil && isInvalidSession(err) && req.replayable() {
			c.log.LogAttrs(ctx, slog.LevelWarn, "bulk: session invalid, refreshing token", slog.String("method", req.method), slog.String("path", req.path))
			if rerr := c.refresh(ctx, tok); rerr != nil {
				err = fmt.Errorf("%w; refresh token: %w", err, rerr)
				if IsCredentialsRefused(rerr) {
					return nil, err
				}
			} else if !refreshed {
				// The first refresh of a call is free: an expired
				// session is routine, not a failure.
				refreshed = true
				attempt--
				continue
			}
		}
		if attempt >= c.retry.MaxAttempts || !transient(err) || !req.replayable() {
			return nil, err
		}
		acted := mayHaveActed(err)
		if acted && req.retry == retryUnlessActed {
			return nil, err
		}
		req.ambiguous = req.ambiguous || acted
		wait := c.retry.backoff(attempt, IsRequestLimitExceeded(err))
		c.log.LogAttrs(ctx, slog.LevelWarn, "bulk: retrying request",
			slog.String("method", req.method), slog.String("path", req.path),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.Any("err", err))
		if serr := sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%w; gave up retrying: %w", err, serr)
		}
	}
}

// transient reports whether a try that failed with err is worth repeating
// while the caller's context is still alive: IsRetryable, or a timeout that,
// the context being alive, is the HTTP client's own limit for one try.
func transient(err error) bool {
	if IsRetryable(err) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

func isInvalidSession(err error) bool {
	e, ok := errors.AsType[*APIError](err)
	return ok && e.StatusCode == http.StatusUnauthorized && e.ErrorCode == CodeInvalidSessionID
}

// refresh gets a token to replace rejected: from Refresh if the source is a
// Refresher, else from Token, which helps only if the source hands out a
// different token by itself.
func (c *Client) refresh(ctx context.Context, rejected *oauth2.Token) error {
	if r, ok := c.tokens.(Refresher); ok {
		_, err := r.Refresh(ctx, rejected)
		return tokenError(err)
	}
	tok, err := c.tokens.Token()
	if err != nil {
		return tokenError(err)
	}
	if tok.AccessToken == rejected.AccessToken {
		return ErrTokenNotRefreshable
	}
	return nil
}

// send makes one try of req. It returns the token it used, so that a
// refresh can name the token that was rejected.
func (c *Client) send(ctx context.Context, req *request) (*http.Response, *oauth2.Token, error) {
	tok, err := c.tokens.Token()
	if err != nil {
		return nil, nil, &notSentError{fmt.Errorf("get token: %w", tokenError(err))}
	}
	target := c.base + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, target, nil)
	if err != nil {
		return nil, tok, &notSentError{err}
	}
	if req.body != nil {
		body, size, err := req.body.open()
		if err != nil {
			return nil, tok, &notSentError{err}
		}
		defer req.body.release()
		hreq.Body, hreq.ContentLength = body, size
		if size == 0 {
			hreq.Body = http.NoBody
		}
	}
	tok.SetAuthHeader(hreq)
	hreq.Header.Set("User-Agent", c.userAgent)
	hreq.Header.Set("Accept-Encoding", "gzip")
	if req.accept != "" {
		hreq.Header.Set("Accept", req.accept)
	}
	if req.contentType != "" {
		hreq.Header.Set("Content-Type", req.contentType)
	}
	if req.contentEncoding != "" {
		hreq.Header.Set("Content-Encoding", req.contentEncoding)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "bulk: request", slog.String("method", req.method), slog.String("path", req.path))
	resp, err := c.hc.Do(hreq)
	if err != nil {
		c.observeRequest(req.endpoint, 0)
		return nil, tok, err
	}
	c.observeRequest(req.endpoint, resp.StatusCode)
	c.noteLimits(resp)
	// Setting Accept-Encoding ourselves turns off the transport's
	// transparent decompression, so it is done here.
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		resp.Body = &gunzipBody{src: resp.Body}
		resp.Header.Del("Content-Encoding")
		resp.ContentLength = -1
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, tok, readAPIError(resp)
	}
	return resp, tok, nil
}

func (c *Client) observeRequest(endpoint string, status int) {
	if c.onRequest != nil {
		c.onRequest(endpoint, status)
	}
}

// doJSON sends req and decodes a JSON answer into out, or discards the
// answer if out is nil.
func (c *Client) doJSON(ctx context.Context, req *request, out any) error {
	req.accept = "application/json"
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode response of %s %s: %w", req.method, req.path, err)
	}
	return nil
}

// jsonBody marshals v as a request body.
func jsonBody(v any) (payload, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return bytesBody(b), nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
