package schemas

import (
	"testing"

	"github.com/linkedin/goavro/v2"
)

// The result schema parses and round-trips a replayed result.
func TestResultSchema(t *testing.T) {
	codec, err := goavro.NewCodec(Result)
	if err != nil {
		t.Fatal(err)
	}
	source := map[string]any{"topic": "crm.accounts", "partition": int32(1), "offset": int64(7)}
	in := map[string]any{"success": true, "created": false, "id": goavro.Union("string", "0018c0000000001AAA"), "object": "Account",
		"operation": "upsert", "errorCode": "", "error": "", "jobId": "7508c0000000001AAA", "attempts": int32(2), "source": source,
		"replayOf": goavro.Union("io.bulkstream.Source", map[string]any{"topic": "bulkstream.dlq", "partition": int32(0), "offset": int64(3)})}
	b, err := codec.BinaryFromNative(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := codec.NativeFromBinary(b)
	if err != nil {
		t.Fatal(err)
	}
	replay := out.(map[string]any)["replayOf"].(map[string]any)["io.bulkstream.Source"].(map[string]any)
	if replay["topic"] != "bulkstream.dlq" || replay["offset"] != int64(3) {
		t.Fatalf("replayOf read back as %v", replay)
	}
	if _, err := goavro.NewCodec(ChangeEnvelope); err != nil {
		t.Fatal(err)
	}
}
