package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/aws"
)

// awsCredentials resolves the credentials of AWS_MSK_IAM from the standard
// AWS chain (see config.SASLAWSMSKIAM for its order), without the AWS SDK:
// the SDK's config module would bring a dozen modules into Bulkstream's
// go.mod for five small lookups. What it does not do: SSO profiles,
// credential_process, role chaining (role_arn/source_profile) in the
// shared config file. Temporary credentials are kept until five minutes
// before they expire; mu serialises the connections that authenticate at
// once, so that one lookup serves all. A lookup that fails while the kept
// credentials have not expired yet is logged, and they serve meanwhile
// (each authentication tries the lookup again), as OAUTHBEARER's tokens.
type awsCredentials struct {
	env  func(string) string
	http *http.Client
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	cached  aws.Auth
	expires time.Time // zero: static credentials, kept for ever
}

// awsRefreshMargin is how long before their expiry temporary credentials
// are fetched again: an MSK IAM signature is valid for 15 minutes.
const awsRefreshMargin = 5 * time.Minute

func newAWSCredentials(env func(string) string, log *slog.Logger) *awsCredentials {
	return &awsCredentials{env: env, http: &http.Client{Timeout: saslHTTPTimeout}, now: time.Now, log: log}
}

func (a *awsCredentials) auth(ctx context.Context) (aws.Auth, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cached.AccessKey == "" || (!a.expires.IsZero() && !a.now().Before(a.expires.Add(-awsRefreshMargin))) {
		creds, expires, err := a.resolve(ctx)
		if err != nil {
			err = fmt.Errorf("kafka.sasl (aws_msk_iam): %w", err)
			if a.cached.AccessKey == "" || a.expires.IsZero() || !a.now().Before(a.expires) {
				return aws.Auth{}, err
			}
			a.log.Warn("no new AWS credentials for Kafka; authenticating with the current ones until they expire", "expires", a.expires, "error", err)
			return a.cached, nil
		}
		creds.UserAgent = "bulkstream/" + buildStamps().version
		a.cached, a.expires = creds, expires
	}
	return a.cached, nil
}

// resolve walks the chain and returns the first credentials found.
func (a *awsCredentials) resolve(ctx context.Context) (aws.Auth, time.Time, error) {
	if id, secret := a.env("AWS_ACCESS_KEY_ID"), a.env("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return aws.Auth{AccessKey: id, SecretKey: secret, SessionToken: a.env("AWS_SESSION_TOKEN")}, time.Time{}, nil
	}
	if role, tokenFile := a.env("AWS_ROLE_ARN"), a.env("AWS_WEB_IDENTITY_TOKEN_FILE"); role != "" && tokenFile != "" {
		return a.webIdentity(ctx, role, tokenFile)
	}
	if creds, ok, err := a.sharedFile(); ok || err != nil {
		return creds, time.Time{}, err
	}
	if full, relative := a.env("AWS_CONTAINER_CREDENTIALS_FULL_URI"), a.env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); full != "" || relative != "" {
		if full == "" {
			full = "http://169.254.170.2" + relative
		}
		return a.container(ctx, full)
	}
	if strings.EqualFold(a.env("AWS_EC2_METADATA_DISABLED"), "true") {
		return aws.Auth{}, time.Time{}, errors.New("no AWS credentials: none in the environment, no web identity, no shared credentials file, no container credentials, and the instance metadata service is disabled")
	}
	creds, expires, err := a.instanceMetadata(ctx)
	if err != nil {
		err = fmt.Errorf("no AWS credentials in the environment, web identity, shared credentials file or container credentials, and the instance metadata service: %w", err)
	}
	return creds, expires, err
}

// sharedFile reads the profile's static keys from the shared credentials
// file; ok is false when there is no such file or profile.
func (a *awsCredentials) sharedFile() (creds aws.Auth, ok bool, err error) {
	file := a.env("AWS_SHARED_CREDENTIALS_FILE")
	if file == "" {
		home := a.env("HOME")
		if home == "" {
			return aws.Auth{}, false, nil
		}
		file = filepath.Join(home, ".aws", "credentials")
	}
	profile := a.env("AWS_PROFILE")
	if profile == "" {
		profile = "default"
	}
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return aws.Auth{}, false, nil
	} else if err != nil {
		return aws.Auth{}, false, err
	}
	defer f.Close()
	keys := map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.TrimSpace(strings.Trim(line, "[]"))
		case section == profile:
			if k, v, found := strings.Cut(line, "="); found {
				keys[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return aws.Auth{}, false, fmt.Errorf("%s: %w", file, err)
	}
	if keys["aws_access_key_id"] == "" || keys["aws_secret_access_key"] == "" {
		return aws.Auth{}, false, nil
	}
	return aws.Auth{AccessKey: keys["aws_access_key_id"], SecretKey: keys["aws_secret_access_key"], SessionToken: keys["aws_session_token"]}, true, nil
}

// webIdentity exchanges the token in tokenFile (a projected service account
// token) for the role's credentials with STS AssumeRoleWithWebIdentity,
// a call that needs no credentials of its own.
func (a *awsCredentials) webIdentity(ctx context.Context, role, tokenFile string) (aws.Auth, time.Time, error) {
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return aws.Auth{}, time.Time{}, fmt.Errorf("web identity token: %w", err)
	}
	endpoint := a.stsEndpoint()
	session := a.env("AWS_ROLE_SESSION_NAME")
	if session == "" {
		session = fmt.Sprintf("bulkstream-%d", a.now().Unix())
	}
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {role},
		"RoleSessionName": {session}, "WebIdentityToken": {strings.TrimSpace(string(token))}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return aws.Auth{}, time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, err := a.do(req, "STS "+endpoint)
	if err != nil {
		return aws.Auth{}, time.Time{}, err
	}
	var resp struct {
		Credentials struct {
			AccessKeyID     string    `xml:"AccessKeyId"`
			SecretAccessKey string    `xml:"SecretAccessKey"`
			SessionToken    string    `xml:"SessionToken"`
			Expiration      time.Time `xml:"Expiration"`
		} `xml:"AssumeRoleWithWebIdentityResult>Credentials"`
	}
	if err := xml.Unmarshal(body, &resp); err != nil || resp.Credentials.AccessKeyID == "" {
		return aws.Auth{}, time.Time{}, fmt.Errorf("STS %s: no credentials in the answer (%v)", endpoint, err)
	}
	c := resp.Credentials
	return aws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken}, c.Expiration, nil
}

// stsEndpoint is STS in the configured region (the global endpoint
// without one), or AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL as the SDKs
// take them.
func (a *awsCredentials) stsEndpoint() string {
	for _, key := range []string{"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"} {
		if u := a.env(key); u != "" {
			return u
		}
	}
	for _, key := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if r := a.env(key); r != "" {
			return "https://sts." + r + ".amazonaws.com/"
		}
	}
	return "https://sts.amazonaws.com/"
}

// credentialsJSON is the answer of the container credentials endpoint and
// of the instance metadata service.
type credentialsJSON struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	Token           string    `json:"Token"`
	Expiration      time.Time `json:"Expiration"`
}

func (c credentialsJSON) auth(where string) (aws.Auth, time.Time, error) {
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return aws.Auth{}, time.Time{}, fmt.Errorf("%s: no credentials in the answer", where)
	}
	return aws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.Token}, c.Expiration, nil
}

// container asks the container credentials endpoint (ECS, EKS Pod
// Identity), with the authorization token the agent provides.
func (a *awsCredentials) container(ctx context.Context, endpoint string) (aws.Auth, time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return aws.Auth{}, time.Time{}, err
	}
	authz := a.env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	if file := a.env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return aws.Auth{}, time.Time{}, fmt.Errorf("container authorization token: %w", err)
		}
		authz = strings.TrimSpace(string(b))
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	body, err := a.do(req, "container credentials "+endpoint)
	if err != nil {
		return aws.Auth{}, time.Time{}, err
	}
	var c credentialsJSON
	if err := json.Unmarshal(body, &c); err != nil {
		return aws.Auth{}, time.Time{}, fmt.Errorf("container credentials %s: %w", endpoint, err)
	}
	return c.auth("container credentials " + endpoint)
}

// instanceMetadata asks the EC2 instance metadata service (IMDSv2: a
// session token first) for the instance role's credentials.
func (a *awsCredentials) instanceMetadata(ctx context.Context) (aws.Auth, time.Time, error) {
	base := strings.TrimSuffix(a.env("AWS_EC2_METADATA_SERVICE_ENDPOINT"), "/")
	if base == "" {
		base = "http://169.254.169.254"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second) // off EC2 nothing answers
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/latest/api/token", nil)
	if err != nil {
		return aws.Auth{}, time.Time{}, err
	}
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "21600")
	token, err := a.do(req, "instance metadata")
	if err != nil {
		return aws.Auth{}, time.Time{}, err
	}
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("X-aws-ec2-metadata-token", string(token))
		return a.do(req, "instance metadata")
	}
	roles, err := get("/latest/meta-data/iam/security-credentials/")
	if err != nil {
		return aws.Auth{}, time.Time{}, err
	}
	role, _, _ := strings.Cut(strings.TrimSpace(string(roles)), "\n")
	if role == "" {
		return aws.Auth{}, time.Time{}, errors.New("instance metadata: the instance has no IAM role")
	}
	body, err := get("/latest/meta-data/iam/security-credentials/" + role)
	if err != nil {
		return aws.Auth{}, time.Time{}, err
	}
	var c credentialsJSON
	if err := json.Unmarshal(body, &c); err != nil {
		return aws.Auth{}, time.Time{}, fmt.Errorf("instance metadata: %w", err)
	}
	return c.auth("instance metadata role " + role)
}

// do sends req and returns the body of a 200 answer.
func (a *awsCredentials) do(req *http.Request, what string) ([]byte, error) {
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %.200s", what, resp.Status, body)
	}
	return body, nil
}
