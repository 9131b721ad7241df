// Package schemas holds Bulkstream's Avro schemas, as files for other
// programs (schemas/*.avsc) and as strings for Go.
package schemas

import _ "embed"

// ChangeEnvelope is the envelope format in Avro (change_envelope.avsc): a
// route with format envelope and encoding avro reads it.
//
//go:embed change_envelope.avsc
var ChangeEnvelope string

// Result is the result record in Avro (result.avsc), which
// results.format: avro writes, registered in the schema registry under
// the subject {topic}-value of each result topic.
//
//go:embed result.avsc
var Result string
