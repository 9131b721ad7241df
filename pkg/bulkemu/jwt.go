package bulkemu

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// Salesforce's answers to assertions it refuses (HTTP 400, error
// invalid_grant unless said otherwise).
var (
	errInvalidAssertion = &oauthErr{"invalid_grant", "invalid assertion"}
	errBadAudience      = &oauthErr{"invalid_grant", "audience is invalid"}
	errExpiredAssertion = &oauthErr{"invalid_grant", "expired authorization code"}
	errNotApproved      = &oauthErr{"invalid_grant", "user hasn't approved this consumer"}
	errUnknownClient    = &oauthErr{"invalid_client_id", "client identifier invalid"}
)

// jwtClaims are the claims Salesforce reads. aud may be a string or a list,
// and exp a number or a string of digits (simple-salesforce sends one).
type jwtClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp json.RawMessage `json:"exp"`
}

// jwtBearer serves the JWT bearer grant: the assertion must be a JWT signed
// with RS256 by the key of Options.JWTPublicKey, from the connected app
// (iss ClientID), for this login server (aud), not expired (exp), on behalf
// of the configured user (sub). Checks run in the order Salesforce's do: the
// app is found by iss before its certificate can check the signature.
func (e *Emulator) jwtBearer(w http.ResponseWriter, r *http.Request) *oauthErr {
	header, claims, signed, sig, ok := splitJWT(r.PostForm.Get("assertion"))
	if !ok {
		return errInvalidAssertion
	}
	var h struct {
		Alg string `json:"alg"`
	}
	var c jwtClaims
	if json.Unmarshal(header, &h) != nil || h.Alg != "RS256" || json.Unmarshal(claims, &c) != nil {
		return errInvalidAssertion
	}
	if c.Iss != e.opts.ClientID {
		return errUnknownClient
	}
	digest := sha256.Sum256([]byte(signed))
	if rsa.VerifyPKCS1v15(e.opts.JWTPublicKey, crypto.SHA256, digest[:], sig) != nil {
		return errInvalidAssertion
	}
	if !e.audienceAllowed(r, c.Aud) {
		return errBadAudience
	}
	exp, ok := unixSeconds(c.Exp)
	if !ok {
		return errInvalidAssertion
	}
	if e.now().After(time.Unix(exp, 0)) {
		return errExpiredAssertion
	}
	if c.Sub == "" || (e.opts.JWTUsername != "" && !strings.EqualFold(c.Sub, e.opts.JWTUsername)) {
		return errNotApproved
	}
	e.writeToken(w, r, "web openid api id", false)
	return nil
}

// splitJWT decodes the three parts of a compact JWS. signed is the part the
// signature covers: header.claims as sent.
func splitJWT(assertion string) (header, claims []byte, signed string, sig []byte, ok bool) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, nil, "", nil, false
	}
	dec := base64.RawURLEncoding
	var err1, err2, err3 error
	header, err1 = dec.DecodeString(strings.TrimRight(parts[0], "="))
	claims, err2 = dec.DecodeString(strings.TrimRight(parts[1], "="))
	sig, err3 = dec.DecodeString(strings.TrimRight(parts[2], "="))
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, nil, "", nil, false
	}
	return header, claims, parts[0] + "." + parts[1], sig, true
}

// audienceAllowed reports whether aud (a string or a list of strings) names
// the audience Options.JWTAudience requires, or by default the emulator
// itself or one of Salesforce's login servers.
func (e *Emulator) audienceAllowed(r *http.Request, aud json.RawMessage) bool {
	var list []string
	var one string
	if json.Unmarshal(aud, &one) == nil {
		list = []string{one}
	} else if json.Unmarshal(aud, &list) != nil {
		return false
	}
	allowed := []string{instanceURL(r), "https://login.salesforce.com", "https://test.salesforce.com"}
	if e.opts.JWTAudience != "" {
		allowed = []string{e.opts.JWTAudience}
	}
	for _, a := range list {
		for _, ok := range allowed {
			if strings.TrimSuffix(a, "/") == strings.TrimSuffix(ok, "/") {
				return true
			}
		}
	}
	return false
}

// unixSeconds reads exp: a number, or a string of digits.
func unixSeconds(raw json.RawMessage) (int64, bool) {
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		n = json.Number(s)
	}
	if v, err := n.Int64(); err == nil {
		return v, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return int64(f), err == nil
}
