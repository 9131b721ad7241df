package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// runEmulator serves pkg/bulkemu until the context ends (SIGINT or SIGTERM).
func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	var (
		opts     bulkemu.Options
		addr     = fs.String("addr", "127.0.0.1:8443", "address to listen on (host:port)")
		orgFile  = fs.String("org", "", "YAML file with extra objects and fields for the org (optional)")
		useTLS   = fs.Bool("tls", false, "serve https with a self-signed certificate for 127.0.0.1 and localhost")
		certFile = fs.String("tls-cert-out", "", "with --tls: write the self-signed certificate (PEM) here so clients can trust it (default: a file in the temp directory)")
		quiet    = fs.Bool("quiet", false, "do not log one line per request")
	)
	fs.StringVar(&opts.ClientID, "client-id", "bulkstream", "OAuth client id the token endpoint accepts")
	fs.StringVar(&opts.ClientSecret, "client-secret", "bulkstream", "OAuth client secret the token endpoint accepts")
	fs.DurationVar(&opts.TokenTTL, "token-ttl", 2*time.Hour, "lifetime of an access token; afterwards requests get 401 INVALID_SESSION_ID")
	jwtKeyFile := fs.String("jwt-public-key", "", "PEM file of the RSA public key or certificate that checks JWT bearer assertions (turns the jwt_bearer flow on)")
	fs.StringVar(&opts.JWTUsername, "jwt-username", "", "the user a JWT assertion's sub must name (default: any)")
	fs.StringVar(&opts.JWTAudience, "jwt-audience", "", "the aud a JWT assertion must carry (default: the emulator's URL, https://login.salesforce.com or https://test.salesforce.com)")
	fs.StringVar(&opts.RefreshToken, "refresh-token", "", "the refresh token the token endpoint accepts (turns the refresh_token flow on)")
	fs.StringVar(&opts.Username, "username", "emulator@bulkstream.example", "the org's one user: the username the password flow takes and userinfo reports")
	fs.StringVar(&opts.Password, "password", "", "the password (with the security token appended, as one string) the username-password flow takes (turns the password flow on)")
	fs.BoolVar(&opts.HardDeleteAllowed, "hard-delete-allowed", false, "enable the Bulk API Hard Delete permission (otherwise hardDelete jobs fail with FEATURENOTENABLED)")
	fs.Int64Var(&opts.DailyAPIRequests, "daily-api-requests", 1_000_000, "daily API request allocation; beyond it requests get 403 REQUEST_LIMIT_EXCEEDED")
	fs.Int64Var(&opts.DailyRecordLimit, "daily-record-limit", 150_000_000, "Bulk API records per rolling 24 hours; beyond it rows stay unprocessed and the job fails")
	fs.IntVar(&opts.QueryPageSize, "query-page-size", 0, "query result rows per page when the client sends no maxRecords (0: the server chooses: pages end at the first row past 1 MiB of CSV)")
	fs.DurationVar(&opts.LockWait, "lock-wait", 0, "how long a row waits for a record lock before UNABLE_TO_LOCK_ROW (0: 50ms, or with --org-speed 10s, Salesforce's wait)")
	fs.Int64Var(&opts.MaxUploadMemory, "max-upload-memory", 1<<30, "bytes of uploaded CSV held at most, over all jobs until they are deleted; beyond it uploads get 503 SERVER_UNAVAILABLE")
	fs.DurationVar(&opts.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send a request's headers; then its connection is closed")
	fs.DurationVar(&opts.StallTimeout, "stall-timeout", 30*time.Second, "longest pause in sending a request body or reading a response; then the connection is closed and a partial upload dropped")
	fs.DurationVar(&opts.IdleTimeout, "idle-timeout", 2*time.Minute, "time a kept-alive connection may wait for its next request")
	orgSpeed := fs.Bool("org-speed", false, "process ingest jobs at the speed of a model org (queue, org-wide batch workers, time per chunk and row) instead of at full speed")
	model := bulkemu.OrgSpeed()
	fs.DurationVar(&model.QueueDelay, "queue-delay", model.QueueDelay, "with --org-speed: how long a closed job waits (UploadComplete) before its first batch starts")
	fs.IntVar(&model.Workers, "org-workers", model.Workers, "with --org-speed: internal batches of 10,000 rows the org processes at once, over all jobs")
	fs.DurationVar(&model.ChunkTime, "chunk-time", model.ChunkTime, "with --org-speed: time a chunk of 200 rows takes, besides --row-time per row")
	fs.DurationVar(&model.RowTime, "row-time", model.RowTime, "with --org-speed: time each row takes")
	fs.Int64Var(&opts.Faults.Seed, "seed", 1, "seed of the injected faults; the same seed hits the same requests, jobs and rows")
	fs.Float64Var(&opts.Faults.HTTPErrorRate, "http-error-rate", 0, "share of API requests answered 500 or 503 (0 to 1)")
	fs.Float64Var(&opts.Faults.ExpireSessionRate, "expire-session-rate", 0, "share of API requests whose session expires (401 INVALID_SESSION_ID)")
	fs.Float64Var(&opts.Faults.LockErrorRate, "lock-error-rate", 0, "share of rows failing with UNABLE_TO_LOCK_ROW")
	fs.Float64Var(&opts.Faults.JobFailureRate, "job-failure-rate", 0, "share of ingest jobs failing as a whole")
	fs.Float64Var(&opts.Faults.UnprocessedRate, "unprocessed-rate", 0, "share of rows left unprocessed (their job ends Failed)")
	fs.IntVar(&opts.Faults.RowsPerSecond, "rows-per-second", 0, "slow processing to this many rows per second per job (0: full speed)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	for name, rate := range map[string]float64{"http-error-rate": opts.Faults.HTTPErrorRate, "expire-session-rate": opts.Faults.ExpireSessionRate,
		"lock-error-rate": opts.Faults.LockErrorRate, "job-failure-rate": opts.Faults.JobFailureRate, "unprocessed-rate": opts.Faults.UnprocessedRate} {
		if rate < 0 || rate > 1 {
			return usageError{fmt.Sprintf("--%s must be between 0 and 1, got %v", name, rate)}
		}
	}
	for name, d := range map[string]time.Duration{"read-header-timeout": opts.ReadHeaderTimeout, "stall-timeout": opts.StallTimeout, "idle-timeout": opts.IdleTimeout} {
		if d <= 0 {
			return usageError{fmt.Sprintf("--%s must be positive, got %v", name, d)}
		}
	}
	if *orgSpeed {
		if model.Workers <= 0 || model.QueueDelay < 0 || model.ChunkTime < 0 || model.RowTime < 0 {
			return usageError{fmt.Sprintf("--org-workers must be positive and --queue-delay, --chunk-time and --row-time not negative, got %d, %v, %v, %v", model.Workers, model.QueueDelay, model.ChunkTime, model.RowTime)}
		}
		opts.Speed = model
	}
	if opts.MaxUploadMemory <= 0 {
		return usageError{fmt.Sprintf("--max-upload-memory must be positive, got %d", opts.MaxUploadMemory)}
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if !*quiet {
		opts.Logger = logger
	}
	if *jwtKeyFile != "" {
		key, err := readRSAPublicKey(*jwtKeyFile)
		if err != nil {
			return fmt.Errorf("--jwt-public-key: %w", err)
		}
		opts.JWTPublicKey = key
	}
	if *orgFile != "" {
		schema, err := bulkemu.LoadSchemaFile(*orgFile)
		if err != nil {
			return fmt.Errorf("--org: %w", err)
		}
		opts.Schema = schema
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := bulkemu.New(opts).Server()
	scheme := "http"
	if *useTLS {
		scheme = "https"
		cert, pemPath, err := selfSigned(*certFile)
		if err != nil {
			return fmt.Errorf("--tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
		logger.Info("self-signed certificate written", "path", pemPath)
	}
	fmt.Fprintf(stdout, "Bulk API 2.0 emulator on %s://%s (client id %q; token endpoint /services/oauth2/token)\n", scheme, ln.Addr(), opts.ClientID)
	if opts.Speed.Workers > 0 {
		fmt.Fprintf(stdout, "org speed model: %d workers, %v queue, %v per chunk of 200 rows + %v per row: at most %.0f rows/s\n",
			opts.Speed.Workers, opts.Speed.QueueDelay, opts.Speed.ChunkTime, opts.Speed.RowTime, opts.Speed.Capacity())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// readRSAPublicKey reads an RSA public key from a PEM file: a certificate
// (what a connected app holds), a PKIX PUBLIC KEY or a PKCS#1 RSA PUBLIC
// KEY.
func readRSAPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rsaKey, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, but Salesforce checks assertions with RSA keys (RS256)", path, key)
	}
	return rsaKey, nil
}

// selfSigned makes a certificate for 127.0.0.1, ::1 and localhost, valid for
// a year, and writes it as PEM to path (or a temp file) for clients to trust.
func selfSigned(path string) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "bulkstream emulator"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if path == "" {
		path = filepath.Join(os.TempDir(), "bulkstream-emulator.pem")
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path, nil
}
