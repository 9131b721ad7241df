package bulk

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"
)

// Refresher is a token source that can replace a token Salesforce refused.
//
// Salesforce tokens carry no expiry (the token response has no expires_in),
// so an oauth2.TokenSource like oauth2.ReuseTokenSource hands out the same
// token until the process ends, even after the session has expired or been
// revoked. When a request is answered 401 INVALID_SESSION_ID, the Client
// calls Refresh on its token source if the source implements Refresher, then
// sends the request once more with the token Token returns from then on.
// TokenCache implements it.
type Refresher interface {
	// Refresh returns a token other than rejected, fetching a new one
	// unless another caller has already replaced rejected. A nil
	// rejected forces a fetch. Refresh must be safe for concurrent use.
	Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error)
}

// TokenCache is an oauth2.TokenSource and Refresher that keeps the last
// token of a fetch function: Token returns it while it is valid (Salesforce
// tokens, having no expiry, stay valid until refreshed), and Refresh replaces
// it. Concurrent callers share one fetch: when many requests are refused
// with the same token, one new token is fetched. It is safe for concurrent
// use.
type TokenCache struct {
	fetch func(context.Context) (*oauth2.Token, error)
	// turn is a one-slot semaphore held by whoever reads or replaces
	// tok; a channel rather than a mutex so that waiting honours ctx.
	turn chan struct{}
	tok  *oauth2.Token
}

// NewTokenCache returns a TokenCache over fetch, which must return a new
// token each time it is called (for example clientcredentials.Config.Token or
// a JWT bearer grant). The first token is fetched on first use.
func NewTokenCache(fetch func(ctx context.Context) (*oauth2.Token, error)) *TokenCache {
	return &TokenCache{fetch: fetch, turn: make(chan struct{}, 1)}
}

// Token returns the cached token, fetching one with a background context if
// there is none or it has expired. Token blocks while another caller
// fetches; bound it with the HTTP client's timeout of the fetch function.
func (s *TokenCache) Token() (*oauth2.Token, error) {
	return s.get(context.Background(), false, nil)
}

// Refresh implements Refresher.
func (s *TokenCache) Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	return s.get(ctx, true, rejected)
}

func (s *TokenCache) get(ctx context.Context, refresh bool, rejected *oauth2.Token) (*oauth2.Token, error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.turn }()
	if s.tok.Valid() {
		replaced := rejected != nil && s.tok.AccessToken != rejected.AccessToken
		if !refresh || replaced {
			return s.tok, nil
		}
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	if !tok.Valid() {
		return nil, errors.New("token source returned an empty or expired token")
	}
	s.tok = tok
	return tok, nil
}

// ClientCredentials fetches a token from the OAuth 2.0 client credentials
// flow at {loginURL}/services/oauth2/token (loginURL must be the org's My
// Domain URL, e.g. https://acme.my.salesforce.com; login.salesforce.com
// refuses this flow) and returns a TokenCache that fetches new tokens the
// same way, together with the instance_url of the token response, to pass to
// New. client_id and client_secret are sent in the form body.
//
// Token requests use the *http.Client stored in ctx under oauth2.HTTPClient,
// if any, else a client with a 30 s timeout: TokenCache.Token has no context,
// so only a timeout keeps a hung token endpoint from blocking every request.
// A refused grant (wrong id or secret) is an *APIError whose ErrorCode is the
// OAuth error, e.g. invalid_client. Tokens and secrets never appear in
// errors.
func ClientCredentials(ctx context.Context, loginURL, clientID, clientSecret string) (*TokenCache, string, error) {
	cfg := &clientcredentials.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		TokenURL:     tokenURL(loginURL),
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	return login(ctx, "client credentials grant", cfg.Token)
}

// JWTAssertion says who the assertions of the JWT bearer flow are from and
// for, and signs them; see JWTBearer.
type JWTAssertion struct {
	// ClientID is the connected app's consumer key, the iss claim.
	ClientID string
	// Username is the Salesforce user the token acts as, the sub claim.
	// The user must be pre-authorised for the app.
	Username string
	// Audience is the aud claim. Salesforce documents
	// https://login.salesforce.com (production),
	// https://test.salesforce.com (sandboxes) or an Experience Cloud site
	// URL. Empty means the login URL.
	Audience string
	// PrivateKey is the PEM-encoded RSA key (PKCS#1 or PKCS#8, not
	// encrypted) whose certificate is uploaded to the connected app.
	PrivateKey []byte
}

// jwtExpiry is the lifetime of an assertion: Salesforce wants its exp
// "within 3 minutes".
const jwtExpiry = 3 * time.Minute

// JWTBearer logs in with the OAuth 2.0 JWT bearer flow at
// {loginURL}/services/oauth2/token, as ClientCredentials does with its flow
// (same TokenCache, instance_url, HTTP client and errors). Each token is
// fetched with a new assertion signed with RS256: iss the client id, sub the
// username, aud the audience, exp three minutes ahead. There is no client
// secret. A key that is not an RSA private key in PEM is an error before any
// request; an assertion Salesforce refuses is an *APIError with ErrorCode
// invalid_grant ("audience is invalid", "user hasn't approved this
// consumer", "expired authorization code", "invalid assertion") or
// invalid_client_id.
func JWTBearer(ctx context.Context, loginURL string, j JWTAssertion) (*TokenCache, string, error) {
	if err := checkRSAKey(j.PrivateKey); err != nil {
		return nil, "", fmt.Errorf("jwt bearer grant: private key: %w", err)
	}
	aud := j.Audience
	if aud == "" {
		aud = strings.TrimSuffix(loginURL, "/")
	}
	cfg := &jwt.Config{
		Email:      j.ClientID,
		Subject:    j.Username,
		PrivateKey: j.PrivateKey,
		TokenURL:   tokenURL(loginURL),
		Audience:   aud,
		Expires:    jwtExpiry,
	}
	return login(ctx, "jwt bearer grant", func(ctx context.Context) (*oauth2.Token, error) {
		return cfg.TokenSource(ctx).Token()
	})
}

// checkRSAKey reports whether pemKey is an unencrypted RSA private key,
// PKCS#1 or PKCS#8, as golang.org/x/oauth2/jwt needs it.
func checkRSAKey(pemKey []byte) error {
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return errors.New("no PEM block found")
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("%s block is not an unencrypted PKCS#1 or PKCS#8 private key", block.Type)
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return fmt.Errorf("a %T, but Salesforce signs only with RSA (RS256)", key)
	}
	return nil
}

// RefreshToken logs in with the OAuth 2.0 refresh token flow at
// {loginURL}/services/oauth2/token, as ClientCredentials does with its flow
// (same TokenCache, instance_url, HTTP client and errors). Each token is
// fetched with grant_type=refresh_token and the refresh token of an earlier
// authorization (web server or user-agent flow) of the connected app;
// client_id and client_secret go in the form body, and clientSecret may be
// empty for apps that do not require it. Salesforce answers a revoked or
// expired refresh token with invalid_grant "expired access/refresh token".
func RefreshToken(ctx context.Context, loginURL, clientID, clientSecret, refreshToken string) (*TokenCache, string, error) {
	cfg := &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: tokenURL(loginURL), AuthStyle: oauth2.AuthStyleInParams},
	}
	return login(ctx, "refresh token grant", func(ctx context.Context) (*oauth2.Token, error) {
		// A source over a token without an access token refreshes at
		// once, and keeps the refresh token, as Salesforce sends none back.
		return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	})
}

func tokenURL(loginURL string) string {
	return strings.TrimSuffix(loginURL, "/") + "/services/oauth2/token"
}

// login makes a TokenCache over fetch, which runs the grant named grant,
// fetches the first token and returns the cache with the token's
// instance_url.
func login(ctx context.Context, grant string, fetch func(context.Context) (*oauth2.Token, error)) (*TokenCache, string, error) {
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	cache := NewTokenCache(func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := fetch(context.WithValue(ctx, oauth2.HTTPClient, hc))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", grant, tokenError(err))
		}
		return tok, nil
	})
	tok, err := cache.Refresh(ctx, nil)
	if err != nil {
		return nil, "", err
	}
	instanceURL, _ := tok.Extra("instance_url").(string)
	if instanceURL == "" {
		return nil, "", fmt.Errorf("%s: token response has no instance_url", grant)
	}
	return cache, instanceURL, nil
}
