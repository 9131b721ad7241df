package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/config"
)

// A replay is refused with 403 while no token is configured, and with 401
// without the configured one, before anything is read or written (the
// console here has no dead-letter topic at all).
func TestConsoleReplayNeedsTheToken(t *testing.T) {
	for _, tc := range []struct {
		configured, sent string
		code             int
	}{
		{"", "", http.StatusForbidden},
		{"", "x", http.StatusForbidden},
		{"tok", "", http.StatusUnauthorized},
		{"tok", "tok2", http.StatusUnauthorized},
		{"tok", "to", http.StatusUnauthorized},
		{"tok", "tok", http.StatusNotFound}, // past the check: no dead-letter topic
	} {
		srv := httptest.NewServer(New(Options{Token: tc.configured}))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/replay", strings.NewReader(`{"dryRun":true}`))
		if tc.sent != "" {
			req.Header.Set("Authorization", "Bearer "+tc.sent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("token %q, sent %q: %d, want %d", tc.configured, tc.sent, resp.StatusCode, tc.code)
		}
	}
	srv := httptest.NewServer(New(Options{Token: "tok"}))
	defer srv.Close()
	if resp, err := http.Get(srv.URL + "/api/replay"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/replay: %v %v", resp.StatusCode, err)
	}
}

// The configuration is shown with its YAML names, every secret masked,
// and durations and sizes as the file writes them.
func TestConsoleMasksSecrets(t *testing.T) {
	cfg := config.Default()
	cfg.Salesforce.Auth.ClientSecret = "sf-secret"
	cfg.HTTP.ConsoleToken = "tok-secret"
	cfg.Batch.MaxAge = 5 * time.Second
	b, err := json.Marshal(masked(cfg))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(s, "sf-secret") || strings.Contains(s, "tok-secret") || !strings.Contains(s, `"client_secret":"\u003credacted\u003e"`) ||
		!strings.Contains(s, `"console_token":"\u003credacted\u003e"`) || !strings.Contains(s, `"max_age":"5s"`) || !strings.Contains(s, `"memory_budget":"64MiB"`) {
		t.Errorf("masked configuration: %s", s)
	}
}
