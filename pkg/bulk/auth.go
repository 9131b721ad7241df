package bulk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
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
// OAuth error, e.g. invalid_client.
func ClientCredentials(ctx context.Context, loginURL, clientID, clientSecret string) (*TokenCache, string, error) {
	cfg := &clientcredentials.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		TokenURL:     strings.TrimSuffix(loginURL, "/") + "/services/oauth2/token",
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	cache := NewTokenCache(func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
		if err != nil {
			return nil, fmt.Errorf("client credentials grant: %w", tokenError(err))
		}
		return tok, nil
	})
	tok, err := cache.Refresh(ctx, nil)
	if err != nil {
		return nil, "", err
	}
	instanceURL, _ := tok.Extra("instance_url").(string)
	if instanceURL == "" {
		return nil, "", errors.New("client credentials grant: token response has no instance_url")
	}
	return cache, instanceURL, nil
}
