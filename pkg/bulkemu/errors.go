package bulkemu

import "net/http"

// apiError is an error the emulator answers with Salesforce's body
// [{"errorCode": Code, "message": Message}] and the HTTP status Status.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, message string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: message}
}

var errNotFound = &apiError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "The requested resource does not exist"}
