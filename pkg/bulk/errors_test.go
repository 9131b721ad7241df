package bulk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/pkg/bulk"
)

func TestIsRetryable(t *testing.T) {
	netErr := &url.Error{Op: "Get", URL: "https://x", Err: &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"500", &bulk.APIError{StatusCode: 500, ErrorCode: "UNKNOWN_EXCEPTION"}, true},
		{"503 wrapped", fmt.Errorf("get job: %w", &bulk.APIError{StatusCode: 503, ErrorCode: bulk.CodeServerUnavailable}), true},
		{"429", &bulk.APIError{StatusCode: 429}, true},
		{"request limit", &bulk.APIError{StatusCode: 403, ErrorCode: bulk.CodeRequestLimitExceeded}, true},
		{"lock in a 400", &bulk.APIError{StatusCode: 400, ErrorCode: "TOOMANYLOCKFAILURE"}, true},
		{"not found", &bulk.APIError{StatusCode: 404, ErrorCode: bulk.CodeNotFound}, false},
		{"invalid session", &bulk.APIError{StatusCode: 401, ErrorCode: bulk.CodeInvalidSessionID}, true},
		{"static token refused", fmt.Errorf("%w; refresh token: %w", &bulk.APIError{StatusCode: 401, ErrorCode: bulk.CodeInvalidSessionID}, bulk.ErrTokenNotRefreshable), false},
		{"job state", &bulk.APIError{StatusCode: 400, ErrorCode: bulk.CodeInvalidJobState}, false},
		{"row lock", &bulk.RowError{Code: bulk.CodeUnableToLockRow}, true},
		{"row required", &bulk.RowError{Code: "REQUIRED_FIELD_MISSING"}, false},
		{"job lock failure", &bulk.JobError{State: bulk.StateFailed, Code: bulk.CodeTooManyLockFailure}, true},
		{"job bad csv", &bulk.JobError{State: bulk.StateFailed, Code: "InvalidBatch"}, false},
		{"job aborted", &bulk.JobError{State: bulk.StateAborted}, false},
		{"network", netErr, true},
		{"truncated", fmt.Errorf("decode: %w", io.ErrUnexpectedEOF), true},
		{"canceled", &url.Error{Op: "Get", URL: "https://x", Err: context.Canceled}, false},
		{"token endpoint 502", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 502}}, true},
		{"token endpoint 400", &oauth2.RetrieveError{Response: &http.Response{StatusCode: 400}}, false},
		{"other", errors.New("boom"), false},
	} {
		if got := bulk.IsRetryable(tc.err); got != tc.want {
			t.Errorf("%s: IsRetryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestParseRowError(t *testing.T) {
	for _, tc := range []struct {
		in      string
		code    string
		message string
		fields  []string
	}{
		{"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --", "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", []string{"Name"}},
		{"REQUIRED_FIELD_MISSING:Required fields are missing: [Product__c, Broker__c]:Product__c,Broker__c --", "REQUIRED_FIELD_MISSING", "Required fields are missing: [Product__c, Broker__c]", []string{"Product__c", "Broker__c"}},
		{"DUPLICATE_VALUE:duplicate value found: Ext__c duplicates value on record with id: 500Ox000008nUimIAE:--", "DUPLICATE_VALUE", "duplicate value found: Ext__c duplicates value on record with id: 500Ox000008nUimIAE", nil},
		{"UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 2 records: 001xxx,001yyy:--", "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 2 records: 001xxx,001yyy", nil},
		{"FIELD_CUSTOM_VALIDATION_EXCEPTION:Custom validation rule violated.", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Custom validation rule violated.", nil},
		{"something odd", "", "something odd", nil},
	} {
		e := bulk.ParseRowError(tc.in)
		if e.Code != tc.code || e.Message != tc.message || !slices.Equal(e.Fields, tc.fields) {
			t.Errorf("ParseRowError(%q) = %q %q %q, want %q %q %q", tc.in, e.Code, e.Message, e.Fields, tc.code, tc.message, tc.fields)
		}
	}
}

// A job as a real org returned it (v47.0).
const capturedJob = `{
  "id" : "7502M00000aFzAIQA0",
  "operation" : "upsert",
  "object" : "LObjectScore__c",
  "createdById" : "005410000020mxHAAQ",
  "createdDate" : "2020-03-21T20:03:25.000+0000",
  "systemModstamp" : "2020-03-21T20:03:27.000+0000",
  "state" : "Failed",
  "externalIdFieldName" : "values__c",
  "concurrencyMode" : "Parallel",
  "contentType" : "CSV",
  "apiVersion" : 47.0,
  "jobType" : "V2Ingest",
  "lineEnding" : "LF",
  "columnDelimiter" : "COMMA",
  "numberRecordsProcessed" : 2600,
  "numberRecordsFailed" : 3,
  "retries" : 20,
  "totalProcessingTime" : 886,
  "apiActiveProcessingTime" : 813,
  "apexProcessingTime" : 619,
  "errorMessage" : "TooManyLockFailure : Too many lock failure 200 Trying again later."
}`

func TestJobInfoDecodesSalesforceJSON(t *testing.T) {
	var j bulk.JobInfo
	if err := json.Unmarshal([]byte(capturedJob), &j); err != nil {
		t.Fatal(err)
	}
	if j.ID != "7502M00000aFzAIQA0" || j.Operation != bulk.OpUpsert || j.ExternalIDFieldName != "values__c" ||
		j.APIVersion.String() != "47.0" || j.NumberRecordsProcessed != 2600 || j.NumberRecordsFailed != 3 ||
		j.Retries != 20 || j.ApexProcessingTime != 619 || j.JobType != "V2Ingest" {
		t.Errorf("decoded %+v", j)
	}
	if want := time.Date(2020, 3, 21, 20, 3, 25, 0, time.UTC); !j.CreatedDate.Equal(want) {
		t.Errorf("createdDate %v, want %v", j.CreatedDate, want)
	}
	je, ok := errors.AsType[*bulk.JobError](j.Err())
	if !ok || je.Code != bulk.CodeTooManyLockFailure || !bulk.IsRetryable(je) {
		t.Errorf("Err() = %#v, want a retryable TooManyLockFailure", j.Err())
	}

	// What MarshalJSON writes decodes to the same job.
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var again bulk.JobInfo
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatal(err)
	}
	if !again.CreatedDate.Equal(j.CreatedDate) || again.APIVersion != j.APIVersion || again.ErrorMessage != j.ErrorMessage {
		t.Errorf("round trip: %+v, want %+v", again, j)
	}
	if (&bulk.JobInfo{State: bulk.StateJobComplete}).Err() != nil {
		t.Error("Err() of a JobComplete job is not nil")
	}
}

func TestAPIErrorMessage(t *testing.T) {
	e := &bulk.APIError{StatusCode: 404, ErrorCode: bulk.CodeNotFound, Message: "The requested resource does not exist"}
	if got, want := fmt.Errorf("get ingest job x: %w", e).Error(), "get ingest job x: NOT_FOUND (HTTP 404): The requested resource does not exist"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}
