package bulk

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// LimitInfo is the org's API request usage as the Sforce-Limit-Info header
// of a response reports it: "api-usage=18/5000".
type LimitInfo struct {
	Used int64 // requests made in the rolling 24 hours
	Max  int64 // requests allowed in the rolling 24 hours
}

// Remaining returns Max - Used, or 0 when the limit is spent.
func (l LimitInfo) Remaining() int64 { return max(l.Max-l.Used, 0) }

// parseLimitInfo reads the api-usage entry of a Sforce-Limit-Info header,
// which may have others (per-app-api-usage=…, api-bursts=…) separated by
// semicolons.
func parseLimitInfo(h string) (LimitInfo, bool) {
	for part := range strings.SplitSeq(h, ";") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "api-usage=")
		if !ok {
			continue
		}
		used, total, ok := strings.Cut(v, "/")
		if !ok {
			return LimitInfo{}, false
		}
		u, err1 := strconv.ParseInt(strings.TrimSpace(used), 10, 64)
		m, err2 := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
		if err1 != nil || err2 != nil {
			return LimitInfo{}, false
		}
		return LimitInfo{Used: u, Max: m}, true
	}
	return LimitInfo{}, false
}

// noteLimits records a response's Sforce-Limit-Info and tells the observer.
func (c *Client) noteLimits(resp *http.Response) {
	info, ok := parseLimitInfo(resp.Header.Get("Sforce-Limit-Info"))
	if !ok {
		return
	}
	c.lastLimit.Store(&info)
	if c.observe != nil {
		c.observe(info)
	}
}

// LastLimitInfo returns the Sforce-Limit-Info of the latest response that
// had one, and false if none had. With concurrent requests, "latest" is the
// one whose headers were read last.
func (c *Client) LastLimitInfo() (LimitInfo, bool) {
	p := c.lastLimit.Load()
	if p == nil {
		return LimitInfo{}, false
	}
	return *p, true
}

// Limit is one of the org's limits from the limits resource.
type Limit struct {
	Max       int64 `json:"Max"`
	Remaining int64 `json:"Remaining"`
}

// Limits returns the org's limits by name (DailyApiRequests,
// DailyBulkApiBatches, DailyBulkV2QueryJobs, DataStorageMB, …) from
// /services/data/vXX.X/limits. Per-app breakdowns are left out.
func (c *Client) Limits(ctx context.Context) (map[string]Limit, error) {
	var out map[string]Limit
	req := &request{endpoint: "limits", method: http.MethodGet, path: c.apiPath("/limits"), retry: retryAlways}
	if err := c.doJSON(ctx, req, &out); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	return out, nil
}
