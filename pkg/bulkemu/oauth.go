package bulkemu

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// orgID is the id of the emulated org; access tokens start with it, as
// Salesforce session ids do.
var orgID = makeID("00D", 1)

var errInvalidSession = &apiError{Status: http.StatusUnauthorized, Code: "INVALID_SESSION_ID", Message: "Session expired or invalid"}

// sessions holds the issued access tokens and their expiry. Its mutex
// guards tokens.
type sessions struct {
	mu     sync.Mutex
	tokens map[string]time.Time
}

func (s *sessions) issue(now time.Time, ttl time.Duration) string {
	b := make([]byte, 24)
	rand.Read(b)
	token := orgID[:15] + "!" + base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	s.tokens[token] = now.Add(ttl)
	s.mu.Unlock()
	return token
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	for _, scheme := range []string{"Bearer ", "OAuth "} {
		if len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) {
			return strings.TrimSpace(h[len(scheme):])
		}
	}
	return ""
}

// check answers 401 INVALID_SESSION_ID for a request without a valid,
// unexpired token.
func (s *sessions) check(r *http.Request, now time.Time) error {
	token := bearer(r)
	if token == "" {
		if r.Header.Get("Authorization") != "" {
			return &apiError{Status: http.StatusUnauthorized, Code: "INVALID_AUTH_HEADER", Message: "INVALID_HEADER_TYPE"}
		}
		return errInvalidSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	expiry, ok := s.tokens[token]
	if !ok {
		return errInvalidSession
	}
	if now.After(expiry) {
		delete(s.tokens, token)
		return errInvalidSession
	}
	return nil
}

func (s *sessions) revoke(r *http.Request) {
	s.mu.Lock()
	delete(s.tokens, bearer(r))
	s.mu.Unlock()
}

// Token issues an access token directly, for tests that do not want to go
// through the token endpoint.
func (e *Emulator) Token() string { return e.auth.issue(e.now(), e.opts.TokenTTL) }

// token serves POST /services/oauth2/token for the client credentials flow
// and, when Options turn them on, the JWT bearer and refresh token flows.
// Errors are Salesforce's 400 {"error", "error_description"}.
func (e *Emulator) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, oauthError("invalid_request", "must use HTTP POST"))
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError("invalid_request", "invalid request body"))
		return
	}
	var err *oauthErr
	switch grant := r.PostForm.Get("grant_type"); {
	case grant == "client_credentials":
		err = e.clientCredentials(w, r)
	case grant == jwtBearerGrant && e.opts.JWTPublicKey != nil:
		err = e.jwtBearer(w, r)
	case grant == "refresh_token" && e.opts.RefreshToken != "":
		err = e.refreshToken(w, r)
	case grant == "password" && e.opts.Password != "":
		err = e.password(w, r)
	default:
		err = &oauthErr{"unsupported_grant_type", "grant type not supported"}
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError(err.code, err.description))
	}
}

// oauthErr is a refused token request: Salesforce's error and
// error_description.
type oauthErr struct{ code, description string }

// clientCredentials serves the client credentials grant. The client id and
// secret may come as form fields or as HTTP Basic credentials.
func (e *Emulator) clientCredentials(w http.ResponseWriter, r *http.Request) *oauthErr {
	if err := e.checkClient(r, true); err != nil {
		return err
	}
	e.writeToken(w, r, "api", true)
	return nil
}

// refreshToken serves the refresh token grant: the client id, the refresh
// token, and the client secret if the client sends one.
func (e *Emulator) refreshToken(w http.ResponseWriter, r *http.Request) *oauthErr {
	if err := e.checkClient(r, false); err != nil {
		return err
	}
	if !hmac.Equal([]byte(r.PostForm.Get("refresh_token")), []byte(e.opts.RefreshToken)) {
		return &oauthErr{"invalid_grant", "expired access/refresh token"}
	}
	e.writeToken(w, r, "id api refresh_token", true)
	return nil
}

// password serves the username-password grant: the client id and secret,
// then the user's name (any case, as Salesforce compares usernames) and
// password. Its answer is the doc's sample's: signed, without a scope.
func (e *Emulator) password(w http.ResponseWriter, r *http.Request) *oauthErr {
	if err := e.checkClient(r, true); err != nil {
		return err
	}
	if !strings.EqualFold(r.PostForm.Get("username"), e.opts.Username) ||
		!hmac.Equal([]byte(r.PostForm.Get("password")), []byte(e.opts.Password)) {
		return &oauthErr{"invalid_grant", "authentication failure"}
	}
	e.writeToken(w, r, "", true)
	return nil
}

// checkClient checks the client id and the secret, from the form or HTTP
// Basic credentials. A missing secret is accepted unless needSecret.
func (e *Emulator) checkClient(r *http.Request, needSecret bool) *oauthErr {
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != e.opts.ClientID {
		return &oauthErr{"invalid_client_id", "client identifier invalid"}
	}
	if (secret != "" || needSecret) && !hmac.Equal([]byte(secret), []byte(e.opts.ClientSecret)) {
		return &oauthErr{"invalid_client", "invalid client credentials"}
	}
	return nil
}

// writeToken answers a granted token request with a new access token, as
// Salesforce's samples show: signed answers (client credentials, refresh
// token) carry signature and issued_at, JWT bearer answers do not.
func (e *Emulator) writeToken(w http.ResponseWriter, r *http.Request, scope string, signed bool) {
	now := e.now()
	instance := instanceURL(r)
	identity := instance + "/id/" + orgID + "/" + userID
	issuedAt := strconv.FormatInt(now.UnixMilli(), 10)
	var o orderedJSON
	o.add("access_token", e.auth.issue(now, e.opts.TokenTTL))
	if signed {
		mac := hmac.New(sha256.New, []byte(e.opts.ClientSecret))
		mac.Write([]byte(identity + issuedAt))
		o.add("signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	if scope != "" {
		o.add("scope", scope)
	}
	o.add("instance_url", instance)
	o.add("id", identity)
	o.add("token_type", "Bearer")
	if signed {
		o.add("issued_at", issuedAt)
	}
	writeRawJSON(w, http.StatusOK, o.bytes())
}

func oauthError(code, description string) map[string]string {
	return map[string]string{"error": code, "error_description": description}
}

// instanceURL is the emulator's own base URL as the client reached it:
// scheme and host, no path (jsforce resolves relative paths against it).
func instanceURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
