package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/bulkstream/bulkstream/internal/config"
)

// saslMechanism is the franz-go mechanism of kafka.sasl, or nil without
// one. franz-go calls its credentials function for every new connection
// and every re-authentication a broker asks for (its session lifetime).
// log takes what the mechanism warns of (a failed token refresh).
func saslMechanism(s config.SASL, log *slog.Logger) sasl.Mechanism {
	switch s.Mechanism {
	case config.SASLPlain:
		return plain.Auth{User: s.Username, Pass: string(s.Password)}.AsMechanism()
	case config.SASLScramSHA256:
		return scram.Auth{User: s.Username, Pass: string(s.Password)}.AsSha256Mechanism()
	case config.SASLScramSHA512:
		return scram.Auth{User: s.Username, Pass: string(s.Password)}.AsSha512Mechanism()
	case config.SASLOAuthBearer:
		return oauth.Oauth(newOAuthTokens(s.OAuth, log).auth)
	case config.SASLAWSMSKIAM:
		return aws.ManagedStreamingIAM(newAWSCredentials(os.Getenv, log).auth)
	}
	return nil
}

// checkSASL gets the credentials of kafka.sasl once, as a connection
// would, so that `connector check` names the key at fault: a token from
// the token endpoint for oauthbearer, credentials from the AWS chain for
// aws_msk_iam. The other mechanisms have nothing to fetch; the brokers
// check them.
func checkSASL(ctx context.Context, s config.SASL) error {
	var err error
	switch s.Mechanism {
	case config.SASLOAuthBearer:
		_, err = newOAuthTokens(s.OAuth, slog.New(slog.DiscardHandler)).auth(ctx)
	case config.SASLAWSMSKIAM:
		_, err = newAWSCredentials(os.Getenv, slog.New(slog.DiscardHandler)).auth(ctx)
	}
	return err
}

// saslInTheClear says what kafka.sasl sends to the brokers unencrypted
// when kafka.tls.enabled is false, or "" when nothing is: PLAIN sends the
// password itself, OAUTHBEARER a bearer token, AWS_MSK_IAM a signed
// request; whoever reads one on the path can authenticate with it. SCRAM
// sends only proofs that are of no use for another session. `connector
// check` reports it as a warning rather than an error: a broker on
// localhost, or a test broker, may well have no TLS.
func saslInTheClear(k config.Kafka) string {
	if k.TLS.Enabled {
		return ""
	}
	switch k.SASL.Mechanism {
	case config.SASLPlain:
		return "plain without kafka.tls.enabled sends the password in the clear on every connection"
	case config.SASLOAuthBearer:
		return "oauthbearer without kafka.tls.enabled sends the bearer token in the clear on every connection; whoever reads it can use it until it expires"
	case config.SASLAWSMSKIAM:
		return "aws_msk_iam without kafka.tls.enabled sends a signed AWS request in the clear on every connection; whoever reads it can use it for 15 minutes (MSK serves IAM on its TLS port 9098 only)"
	}
	return ""
}

// saslHTTPTimeout bounds each request for credentials: a token endpoint,
// STS, a credentials endpoint.
const saslHTTPTimeout = 30 * time.Second

// oauthRefreshFactor is the share of a token's lifetime after which the
// next authentication fetches a new one (Kafka's Java client:
// sasl.login.refresh.window.factor, 0.8). The rest of the lifetime is the
// margin for connections that authenticate meanwhile.
const oauthRefreshFactor = 0.8

// oauthTokens fetches OAUTHBEARER tokens with the client credentials
// grant and keeps each until oauthRefreshFactor of its lifetime has
// passed. A refresh that fails while the kept token has not expired is
// logged as a warning and the kept token used: the identity provider may
// be back before it expires, and each authentication meanwhile tries it
// again; only a fetch that fails without a live token fails the
// authentication. franz-go authenticates connections to several brokers
// at once: mu serialises them, so one fetch serves all. A token without
// expires_in is taken to live an hour.
type oauthTokens struct {
	cc         clientcredentials.Config
	tokenURL   string // cc.TokenURL, a password in it masked, for messages
	extensions map[string]string
	http       *http.Client
	now        func() time.Time
	log        *slog.Logger

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	expiresAt time.Time
}

func newOAuthTokens(o config.SASLOAuth, log *slog.Logger) *oauthTokens {
	return &oauthTokens{
		cc:         clientcredentials.Config{ClientID: o.ClientID, ClientSecret: string(o.ClientSecret), TokenURL: o.TokenURL, Scopes: o.Scopes},
		tokenURL:   redactedURL(o.TokenURL),
		extensions: o.Extensions,
		http:       &http.Client{Timeout: saslHTTPTimeout},
		now:        time.Now,
		log:        log,
	}
}

// auth returns the token for one authentication, fetching a new one when
// the kept one is due.
func (o *oauthTokens) auth(ctx context.Context) (oauth.Auth, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	if o.token != "" && now.Before(o.refreshAt) {
		return oauth.Auth{Token: o.token, Extensions: o.extensions}, nil
	}
	t, err := o.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, o.http))
	if err != nil {
		err = fmt.Errorf("kafka.sasl.oauth: token from %s: %w", o.tokenURL, err)
		if o.token == "" || !now.Before(o.expiresAt) {
			return oauth.Auth{}, err
		}
		o.log.Warn("no new Kafka OAUTHBEARER token; authenticating with the current one until it expires", "expires", o.expiresAt, "error", err)
		return oauth.Auth{Token: o.token, Extensions: o.extensions}, nil
	}
	lifetime := time.Hour
	if !t.Expiry.IsZero() {
		lifetime = t.Expiry.Sub(now)
	}
	o.token, o.refreshAt, o.expiresAt = t.AccessToken, now.Add(time.Duration(float64(lifetime)*oauthRefreshFactor)), now.Add(lifetime)
	return oauth.Auth{Token: o.token, Extensions: o.extensions}, nil
}

// redactedURL is u with a password in it masked (url.URL.Redacted), or
// "(token_url)" when u is not a URL, so that no message shows a password.
func redactedURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(token_url)"
	}
	return parsed.Redacted()
}
