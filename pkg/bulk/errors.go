package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// Error codes that Salesforce puts in the errorCode of a response body, in
// the sf__Error column of failed results, or (as the prefix of errorMessage)
// in a failed job. Compare an APIError's ErrorCode, a RowError's Code or a
// JobError's Code with these.
const (
	CodeNotFound             = "NOT_FOUND"              // unknown or deleted job, wrong URL or version
	CodeInvalidSessionID     = "INVALID_SESSION_ID"     // token expired or revoked (HTTP 401)
	CodeInvalidJob           = "INVALIDJOB"             // create: unknown object, bad external id field
	CodeInvalidJobState      = "INVALIDJOBSTATE"        // illegal state transition
	CodeBulkAPIError         = "BULK_API_ERROR"         // e.g. a second upload to one job
	CodeAPIError             = "API_ERROR"              // bad property value, delete of a running job
	CodeRequestLimitExceeded = "REQUEST_LIMIT_EXCEEDED" // the org's API request limit (HTTP 403)
	CodeServerUnavailable    = "SERVER_UNAVAILABLE"     // Salesforce is overloaded or down (HTTP 503)
	CodeUnableToLockRow      = "UNABLE_TO_LOCK_ROW"     // row lock contention; retry the row
	CodeTooManyLockFailure   = "TooManyLockFailure"     // job failed on lock contention
)

// APIError is an error answer of Salesforce: an HTTP status with the first
// entry of its [{"errorCode","message","fields"}] body, or the
// {"error","error_description"} body of the OAuth token endpoint. Use
// errors.As to get at it; ErrorCode keeps Salesforce's spelling.
type APIError struct {
	StatusCode int      // HTTP status of the response
	ErrorCode  string   // e.g. NOT_FOUND, INVALIDJOBSTATE, invalid_client
	Message    string   // Salesforce's message, or the body's start when it is not JSON
	Fields     []string // fields named by the error, when Salesforce names any

	cause error // the *oauth2.RetrieveError a token endpoint error was made from
}

func (e *APIError) Error() string {
	if e.ErrorCode == "" {
		return fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.Message)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", e.ErrorCode, e.StatusCode, e.Message)
}

// Unwrap returns the *oauth2.RetrieveError the error was made from, if any.
func (e *APIError) Unwrap() error { return e.cause }

// Retryable reports whether the same request may succeed later: server
// errors (5xx), 429, the codes of transient conditions (lock contention,
// SERVER_UNAVAILABLE, REQUEST_LIMIT_EXCEEDED), and a 401 INVALID_SESSION_ID,
// which a new token mends (the Client fetches one by itself). A refusal of
// the credentials by the token endpoint is not; see IsCredentialsRefused.
func (e *APIError) Retryable() bool {
	if e.cause != nil { // the token endpoint: only its own trouble passes
		return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
	}
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests || retryableCode(e.ErrorCode) ||
		(e.StatusCode == http.StatusUnauthorized && e.ErrorCode == CodeInvalidSessionID)
}

// ErrTokenNotRefreshable is returned when Salesforce refused a token and the
// token source, not being a Refresher, handed out the same token again (a
// static token): no retry can succeed.
var ErrTokenNotRefreshable = errors.New("token source is not a Refresher and returned the rejected token again")

// IsCredentialsRefused reports whether err is the token endpoint refusing
// the credentials themselves: an OAuth error answered with a 4xx
// (invalid_client, invalid_grant, unauthorized_client, invalid_client_id:
// a wrong or revoked secret, key, refresh token or user), or a static token
// that cannot be replaced (ErrTokenNotRefreshable). Nothing but a change on
// the org's side or in the configuration mends it; a caller that must not
// lose data pauses and tries again now and then instead of failing rows.
func IsCredentialsRefused(err error) bool {
	return errors.Is(err, ErrTokenNotRefreshable) || anyInTree(err, func(err error) bool {
		e, ok := err.(*APIError)
		return ok && e.cause != nil && e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests
	})
}

// anyInTree reports whether f holds for err or any error it wraps, where
// errors.As would stop at the first error of a type (a refused session
// wraps the refused refresh that followed it).
func anyInTree(err error, f func(error) bool) bool {
	if err == nil {
		return false
	}
	if f(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return anyInTree(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if anyInTree(e, f) {
				return true
			}
		}
	}
	return false
}

// retryableCode reports whether a Salesforce error code names a transient
// condition. Codes are compared without case and underscores, because the
// same condition is spelt TooManyLockFailure in a job's errorMessage and
// TOOMANYLOCKFAILURE in a response body.
func retryableCode(code string) bool {
	switch normalizeCode(code) {
	case "UNABLETOLOCKROW", "TOOMANYLOCKFAILURE", "SERVERUNAVAILABLE", "REQUESTLIMITEXCEEDED", "TIMEOUT":
		return true
	}
	return false
}

func normalizeCode(code string) string {
	return strings.ToUpper(strings.ReplaceAll(code, "_", ""))
}

// retryableError is an error that knows whether it is transient.
type retryableError interface {
	error
	Retryable() bool
}

// IsRetryable reports whether err is transient: an error whose Retryable
// method says so (*APIError, *RowError, *JobError), a network error, a
// truncated response, or a token endpoint answering 5xx. A canceled context
// or a passed deadline is not retryable, since it usually is the caller's,
// and neither are refused credentials (IsCredentialsRefused).
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || IsCredentialsRefused(err) {
		return false
	}
	if r, ok := errors.AsType[retryableError](err); ok {
		return r.Retryable()
	}
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		return re.Response != nil && re.Response.StatusCode >= 500
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF)
}

// IsRequestLimitExceeded reports whether err is Salesforce's
// REQUEST_LIMIT_EXCEEDED: the org has used up its API requests for the
// rolling 24 hours. Waiting minutes, not seconds, is what helps.
func IsRequestLimitExceeded(err error) bool { return hasCode(err, CodeRequestLimitExceeded) }

func hasCode(err error, code string) bool {
	e, ok := errors.AsType[*APIError](err)
	return ok && e.ErrorCode == code
}

// mayHaveActed reports whether the server may have carried out a request that
// failed with err. Answers that refuse a request (4xx, 503) and failures
// before the request left (no token, no connection) say it did not; other
// server errors and broken connections leave it open.
func mayHaveActed(err error) bool {
	if _, ok := errors.AsType[*notSentError](err); ok {
		return false
	}
	if e, ok := errors.AsType[*APIError](err); ok {
		return e.StatusCode >= 500 && e.StatusCode != http.StatusServiceUnavailable
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return false
	}
	return true
}

// notSentError marks a failure that happened before the request was sent.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// readAPIError consumes and closes the body of a non-2xx response and
// returns it as an *APIError.
func readAPIError(resp *http.Response) *APIError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := parseErrorBody(body)
	e.StatusCode = resp.StatusCode
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

type errorEntry struct {
	ErrorCode string   `json:"errorCode"`
	Message   string   `json:"message"`
	Fields    []string `json:"fields"`
	// The OAuth shape.
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func parseErrorBody(body []byte) *APIError {
	var list []errorEntry
	if json.Unmarshal(body, &list) == nil && len(list) > 0 {
		return list[0].apiError()
	}
	var one errorEntry
	if json.Unmarshal(body, &one) == nil && (one.ErrorCode != "" || one.Error != "") {
		return one.apiError()
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	return &APIError{Message: msg}
}

func (x errorEntry) apiError() *APIError {
	if x.ErrorCode == "" && x.Error != "" {
		return &APIError{ErrorCode: x.Error, Message: x.Description}
	}
	return &APIError{ErrorCode: x.ErrorCode, Message: x.Message, Fields: x.Fields}
}

// tokenError turns a token endpoint's *oauth2.RetrieveError into an
// *APIError that unwraps to it; other errors pass unchanged.
func tokenError(err error) error {
	if _, ok := errors.AsType[*APIError](err); ok {
		return err
	}
	re, ok := errors.AsType[*oauth2.RetrieveError](err)
	if !ok || re.Response == nil {
		return err
	}
	e := parseErrorBody(re.Body)
	if re.ErrorCode != "" {
		e.ErrorCode, e.Message = re.ErrorCode, re.ErrorDescription
	}
	e.StatusCode = re.Response.StatusCode
	e.cause = re
	return e
}

// JobError reports a job that ended Failed or Aborted; JobInfo.Err makes it.
type JobError struct {
	JobID string
	State JobState
	// Code is the error name that prefixes Salesforce's errorMessage
	// ("InvalidBatch", "ClientInputError", "TooManyLockFailure"), or empty.
	Code    string
	Message string // the job's whole errorMessage; may be empty
}

func (e *JobError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("job %s %s", e.JobID, e.State)
	}
	return fmt.Sprintf("job %s %s: %s", e.JobID, e.State, e.Message)
}

// Retryable reports whether running the same job again may succeed: true
// for failures from lock contention or timeouts, false for aborted jobs and
// failures caused by the data (bad CSV, unknown fields).
func (e *JobError) Retryable() bool { return e.State == StateFailed && retryableCode(e.Code) }
