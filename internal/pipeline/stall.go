package pipeline

import (
	"sync"

	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// Reasons for a pause while calls cannot get through to Salesforce: label
// values of bulkstream_paused, besides the pacer's api_requests and records.
const (
	// PausedSalesforce: requests fail for a while (an outage, 5xx, a
	// session revoked again and again); they are repeated with back-off.
	PausedSalesforce = "salesforce_unavailable"
	// PausedCredentials: the token endpoint refuses the credentials
	// themselves (invalid_client, invalid_grant); calls are repeated now and
	// then until the org or the configuration is fixed.
	PausedCredentials = "salesforce_credentials"
)

// stallReason says why a failed call to Salesforce is worth repeating, as a
// pause reason, or "" when it is not: the answer is Salesforce's final word
// on the request.
func stallReason(err error) string {
	switch {
	case bulk.IsCredentialsRefused(err):
		return PausedCredentials
	case bulk.IsRetryable(err):
		return PausedSalesforce
	}
	return ""
}

// stalls counts the job runners that are stuck on Salesforce, by reason.
// Job runners report through stall; the main loop reads reason to pause
// fetching and new jobs while any is stuck. Safe for concurrent use.
type stalls struct {
	mu sync.Mutex
	n  map[string]int
}

// reason returns a reason some job runner is stuck for, or "" when none is;
// refused credentials come first, since only a person can mend them.
func (s *stalls) reason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range []string{PausedCredentials, PausedSalesforce} {
		if s.n[r] > 0 {
			return r
		}
	}
	return ""
}

func (s *stalls) add(reason string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	s.n[reason] += d
}

// stall is one call's part in stalls: begun when the call first fails,
// ended when it gets through or gives up. The zero value is not stuck.
type stall struct {
	s      *stalls
	reason string
}

// begin marks the call stuck for reason (again: the latest reason counts).
func (st *stall) begin(s *stalls, reason string) {
	if st.reason == reason || s == nil {
		return
	}
	st.end()
	st.s, st.reason = s, reason
	s.add(reason, 1)
}

// end marks the call not stuck.
func (st *stall) end() {
	if st.s != nil && st.reason != "" {
		st.s.add(st.reason, -1)
	}
	st.reason = ""
}
