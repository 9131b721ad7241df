package pipeline

import (
	"fmt"
	"testing"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// A record whose schema the registry could not give is told apart from a
// record that cannot be decoded, so it can be replayed by its code.
func TestDecodeErrorCodes(t *testing.T) {
	outage := fmt.Errorf("decode: %w", &event.RegistryError{Op: "get schema id 7", Message: "connection refused", Retriable: true})
	if got := decodeErrorCode(outage); got != CodeSchemaRegistry {
		t.Errorf("registry outage: %s", got)
	}
	if got := decodeErrorCode(&event.DecodeError{Reason: "bad JSON"}); got != CodeDecode {
		t.Errorf("bad record: %s", got)
	}
}
