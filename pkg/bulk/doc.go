// Package bulk is a client of Salesforce's Bulk API 2.0: ingest jobs that
// load CSV into an object, query jobs that read an object out as CSV, the
// results of both, and the org's limits.
//
// # Ingest jobs
//
// An ingest job goes through these states; the calls that move it are
// named on the arrows:
//
//	CreateIngestJob ──► Open ──UploadJobData (once)──► Open
//	                     │
//	                     └─CloseIngestJob─► UploadComplete ─► InProgress ─► JobComplete | Failed
//	CreateIngestJobWithData ─────────────► UploadComplete ─► …
//	Open | UploadComplete | InProgress ──AbortIngestJob──► Aborted
//
// Salesforce processes the rows in internal batches, in parallel and in no
// particular order. WaitIngestJob polls until the job is JobComplete, Failed
// or Aborted. Then SuccessfulResults, FailedResults and UnprocessedRecords
// stream the rows of each outcome with the columns Salesforce adds (sf__Id,
// sf__Created, sf__Error, parsed into a RowError) and the row as uploaded.
// A JobComplete job may still have failed rows; a Failed or Aborted job may
// have some successful ones.
//
// # Query jobs
//
// CreateQueryJob starts a query at once (UploadComplete → InProgress →
// JobComplete | Failed, or Aborted). WaitQueryJob waits for it, and
// QueryResults reads the rows of all result pages in one stream.
//
// # Failures
//
// An error answer of Salesforce is an *APIError that keeps Salesforce's
// errorCode; compare it with the Code constants. IsRetryable tells transient
// failures (5xx, network, lock contention, REQUEST_LIMIT_EXCEEDED) from
// permanent ones. The Client itself retries transient failures with
// exponential back-off and full jitter (RetryPolicy), but only where trying
// again cannot do the work twice; each method says how it behaves. A 401
// INVALID_SESSION_ID makes the Client get a new token once (Refresher) and
// send the request again.
//
// # Authentication
//
// A Client takes an oauth2.TokenSource and the org's instance URL; it knows
// no OAuth flow. ClientCredentials, JWTBearer and RefreshToken run the
// client credentials, JWT bearer and refresh token flows on
// golang.org/x/oauth2 and return a TokenCache (a source that can be
// refreshed) and the instance URL. For other flows, wrap a function that
// fetches a new token in NewTokenCache.
//
// # Schema and observation
//
// Describe returns an object's fields with what loading needs to know of
// them (createable, updateable, external id, relationships), to check a
// mapping before any data moves. WithRequestObserver reports every request
// by a bounded endpoint name and its HTTP status, and WithLimitObserver the
// org's API usage from the Sforce-Limit-Info header, for metrics.
//
// # Example
//
//	tokens, instanceURL, err := bulk.ClientCredentials(ctx, "https://acme.my.salesforce.com", id, secret)
//	if err != nil { … }
//	c, err := bulk.New(instanceURL, tokens)
//	if err != nil { … }
//	job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{
//		Object: "Account", Operation: bulk.OpUpsert, ExternalIDFieldName: "External_Id__c",
//	})
//	if err != nil { … }
//	f, err := os.Open("accounts.csv") // streamed, and rewound if an upload is retried
//	if err != nil { … }
//	defer f.Close()
//	if err := c.UploadJobData(ctx, job.ID, f); err != nil { … }
//	if _, err := c.CloseIngestJob(ctx, job.ID); err != nil { … }
//	job, err = c.WaitIngestJob(ctx, job.ID)
//	if err != nil { … }
//	failed, err := c.FailedResults(ctx, job)
//	if err != nil { … }
//	defer failed.Close()
//	for {
//		res, err := failed.Next()
//		if err == io.EOF { break }
//		if err != nil { … }
//		name, _ := res.Get("Name")
//		fmt.Println(name, res.Err.Code, res.Err.Message, res.Err.Retryable())
//	}
package bulk
