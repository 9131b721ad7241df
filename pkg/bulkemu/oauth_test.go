package bulkemu

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// postToken sends a form to the org's token endpoint.
func (o *org) postToken(form url.Values) response {
	o.t.Helper()
	resp, err := http.PostForm(o.url+"/services/oauth2/token", form)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// assertion signs claims with key as a compact JWS with header alg.
func assertion(t *testing.T, key *rsa.PrivateKey, alg string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(map[string]string{"alg": alg, "typ": "JWT"}) + "." + enc(claims)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestJWTBearerGrant(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := newOrg(t, Options{ClientID: "app", JWTPublicKey: &key.PublicKey, JWTUsername: "integration@acme.com"})
	exp := time.Now().Add(3 * time.Minute).Unix()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "app", "sub": "integration@acme.com", "aud": o.url, "exp": exp}
		if change != nil {
			change(c)
		}
		return c
	}
	grant := func(a string) response {
		return o.postToken(url.Values{"grant_type": {jwtBearerGrant}, "assertion": {a}})
	}

	ok := grant(assertion(t, key, "RS256", claims(nil)))
	tok := ok.json(t)
	if ok.status != 200 || tok["instance_url"] != o.url || tok["token_type"] != "Bearer" || tok["scope"] != "web openid api id" || tok["signature"] != nil {
		t.Fatalf("token response %d %s", ok.status, ok.body)
	}
	o.token = tok["access_token"].(string)
	if r := o.do("GET", "/limits", "", ""); r.status != 200 {
		t.Fatalf("issued token refused: %d %s", r.status, r.body)
	}
	// Salesforce's own audiences, a list, and exp as a string (as
	// simple-salesforce sends it) are accepted too.
	for _, change := range []func(map[string]any){
		func(c map[string]any) { c["aud"] = "https://login.salesforce.com" },
		func(c map[string]any) { c["aud"] = []string{"https://test.salesforce.com"} },
		func(c map[string]any) { c["exp"] = "9999999999" },
		func(c map[string]any) { c["sub"] = "Integration@ACME.com" },
	} {
		if r := grant(assertion(t, key, "RS256", claims(change))); r.status != 200 {
			t.Errorf("%v: %d %s", claims(change), r.status, r.body)
		}
	}

	for _, c := range []struct {
		name      string
		assertion string
		want      string
	}{
		{"not a JWT", "abc.def", `{"error":"invalid_grant","error_description":"invalid assertion"}`},
		{"other key", assertion(t, other, "RS256", claims(nil)), `{"error":"invalid_grant","error_description":"invalid assertion"}`},
		{"not RS256", assertion(t, key, "RS384", claims(nil)), `{"error":"invalid_grant","error_description":"invalid assertion"}`},
		{"unknown app", assertion(t, key, "RS256", claims(func(c map[string]any) { c["iss"] = "other" })), `{"error":"invalid_client_id","error_description":"client identifier invalid"}`},
		{"token URL as audience", assertion(t, key, "RS256", claims(func(c map[string]any) { c["aud"] = o.url + "/services/oauth2/token" })), `{"error":"invalid_grant","error_description":"audience is invalid"}`},
		{"expired", assertion(t, key, "RS256", claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), `{"error":"invalid_grant","error_description":"expired authorization code"}`},
		{"no exp", assertion(t, key, "RS256", claims(func(c map[string]any) { delete(c, "exp") })), `{"error":"invalid_grant","error_description":"invalid assertion"}`},
		{"other user", assertion(t, key, "RS256", claims(func(c map[string]any) { c["sub"] = "someone@acme.com" })), `{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}`},
	} {
		if r := grant(c.assertion); r.status != 400 || r.body != c.want {
			t.Errorf("%s: %d %s, want 400 %s", c.name, r.status, r.body, c.want)
		}
	}

	// With a configured audience only that one is accepted; without a
	// public key the grant is not supported at all.
	strict := newOrg(t, Options{ClientID: "app", JWTPublicKey: &key.PublicKey, JWTAudience: "https://login.salesforce.com"})
	if r := strict.postToken(url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion(t, key, "RS256", claims(nil))}}); r.status != 400 || !strings.Contains(r.body, "audience is invalid") {
		t.Errorf("own URL with JWTAudience set: %d %s", r.status, r.body)
	}
	plain := newOrg(t, Options{ClientID: "app"})
	if r := plain.postToken(url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion(t, key, "RS256", claims(nil))}}); r.status != 400 || !strings.Contains(r.body, "unsupported_grant_type") {
		t.Errorf("JWT grant without a public key: %d %s", r.status, r.body)
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	o := newOrg(t, Options{ClientID: "app", ClientSecret: "s3cret", RefreshToken: "5Aep861-refresh"})
	ok := o.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"5Aep861-refresh"}, "client_id": {"app"}})
	tok := ok.json(t)
	if ok.status != 200 || tok["instance_url"] != o.url || tok["scope"] != "id api refresh_token" || tok["signature"] == nil || tok["refresh_token"] != nil {
		t.Fatalf("token response %d %s", ok.status, ok.body)
	}
	o.token = tok["access_token"].(string)
	if r := o.do("GET", "/limits", "", ""); r.status != 200 {
		t.Fatalf("issued token refused: %d %s", r.status, r.body)
	}
	if r := o.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"5Aep861-refresh"}, "client_id": {"app"}, "client_secret": {"s3cret"}}); r.status != 200 {
		t.Errorf("with the client secret: %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"revoked"}, "client_id": {"app"}}, `{"error":"invalid_grant","error_description":"expired access/refresh token"}`},
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"5Aep861-refresh"}, "client_id": {"other"}}, `{"error":"invalid_client_id","error_description":"client identifier invalid"}`},
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"5Aep861-refresh"}, "client_id": {"app"}, "client_secret": {"wrong"}}, `{"error":"invalid_client","error_description":"invalid client credentials"}`},
	} {
		if r := o.postToken(c.form); r.status != 400 || r.body != c.want {
			t.Errorf("%v: %d %s, want 400 %s", c.form, r.status, r.body, c.want)
		}
	}
	plain := newOrg(t, Options{})
	if r := plain.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"bulkstream"}}); r.status != 400 || !strings.Contains(r.body, "unsupported_grant_type") {
		t.Errorf("refresh grant without a configured token: %d %s", r.status, r.body)
	}
}
