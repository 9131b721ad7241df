package harness

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// OrgNames counts the org's Accounts by Name, with a Bulk API query job
// sent to sfURL directly (not through a proxy). The emulator may be
// injecting faults into every API request, the query's too, so a query that
// fails is run again, up to 20 times.
func OrgNames(t testing.TB, sfURL string) map[string]int {
	t.Helper()
	var err error
	for range 20 {
		var names map[string]int
		if names, err = orgNames(sfURL); err == nil {
			return names
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("query the org's Accounts: %v", err)
	return nil
}

func orgNames(sfURL string) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sf, err := login(ctx, sfURL)
	if err != nil {
		return nil, err
	}
	job, err := sf.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Name FROM Account"})
	if err != nil {
		return nil, fmt.Errorf("create query job: %w", err)
	}
	info, err := sf.WaitQueryJob(ctx, job.ID)
	if err != nil {
		return nil, fmt.Errorf("wait for query job: %w", err)
	}
	rows, err := sf.QueryResults(ctx, info, bulk.QueryResultsOptions{MaxRecords: 50000})
	if err != nil {
		return nil, fmt.Errorf("query results: %w", err)
	}
	names := map[string]int{}
	for {
		row, err := rows.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("query results: %w", err)
		}
		names[strings.TrimSpace(row.Values[0])]++
	}
}

// ClosedJobsRunning counts the org's ingest jobs that are closed and not
// finished (UploadComplete or InProgress): jobs whose rows Salesforce is
// writing or about to write, whatever becomes of the client.
func ClosedJobsRunning(sfURL string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sf, err := login(ctx, sfURL)
	if err != nil {
		return 0, err
	}
	n := 0
	for job, err := range sf.ListIngestJobs(ctx, bulk.ListOptions{}) {
		if err != nil {
			return 0, fmt.Errorf("list ingest jobs: %w", err)
		}
		if job.State == bulk.StateUploadComplete || job.State == bulk.StateInProgress {
			n++
		}
	}
	return n, nil
}

// login logs in to the org at sfURL with the emulator's default
// credentials.
func login(ctx context.Context, sfURL string) (*bulk.Client, error) {
	tokens, instance, err := bulk.ClientCredentials(ctx, sfURL, "bulkstream", "bulkstream")
	if err != nil {
		return nil, err
	}
	return bulk.New(instance, oauth2.TokenSource(tokens))
}
