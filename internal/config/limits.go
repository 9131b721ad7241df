package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Limits keep the connector within the org's daily allocations: when what
// is left falls to a reserve, fetching from Kafka and new jobs pause until
// the allocation returns (nothing is dropped, nothing buffered without
// bound).
type Limits struct {
	// APIRequestReserve is how many of the org's daily API requests to
	// leave to its other integrations: a number (5000) or a share of the
	// allocation ("10%"). Default 10%.
	APIRequestReserve Reserve `yaml:"api_request_reserve"`
	// RecordLimit is the org's Bulk API record allocation for a rolling 24
	// hours. Default 150000000.
	RecordLimit int64 `yaml:"record_limit"`
	// RecordReserve is how many of those records to leave to others, as a
	// number or a share. Default 0.
	RecordReserve Reserve `yaml:"record_reserve"`
	// PollInterval is how often /limits is read (each read is an API
	// request). Default 1m.
	PollInterval time.Duration `yaml:"poll_interval"`
}

// Reserve is a number, or a share of an allocation written with %.
type Reserve struct {
	Count int64
	Ratio float64 // 0.1 for "10%"
}

// Of returns the reserve of an allocation of n.
func (r Reserve) Of(n int64) int64 { return max(r.Count, int64(r.Ratio*float64(n))) }

func (r Reserve) String() string {
	if r.Ratio > 0 {
		return strconv.FormatFloat(r.Ratio*100, 'f', -1, 64) + "%"
	}
	return strconv.FormatInt(r.Count, 10)
}

// UnmarshalYAML reads 5000 or "10%".
func (r *Reserve) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil || f < 0 || f >= 100 {
			return fmt.Errorf("want a number or a share such as 10%%, got %q", n.Value)
		}
		*r = Reserve{Ratio: f / 100}
		return nil
	}
	c, err := strconv.ParseInt(s, 10, 64)
	if err != nil || c < 0 {
		return fmt.Errorf("want a number or a share such as 10%%, got %q", n.Value)
	}
	*r = Reserve{Count: c}
	return nil
}
