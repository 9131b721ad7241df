package pipeline

import (
	"strconv"
	"unicode/utf8"
)

// EncodeJSON is the default encoding of result records: the JSON of Result,
// byte for byte what encoding/json writes (<, >, &, U+2028 and U+2029
// escaped, invalid UTF-8 as U+FFFD), in a new slice of its size. It never
// fails. See AppendJSON.
func EncodeJSON(r *Result) ([]byte, error) {
	var scratch [512]byte // on the stack: the result is copied out at its size
	return append([]byte(nil), AppendJSON(scratch[:0], r)...), nil
}

// AppendJSON appends the JSON of r, as EncodeJSON writes it, to b and
// returns the extended slice. It writes it by hand: reflection was most of
// the cost of publishing a result.
func AppendJSON(b []byte, r *Result) []byte {
	return appendJSONTail(appendJSONMiddle(appendJSONHead(b, r), r), r)
}

// A result's JSON is written in three parts: the head, which differs from
// one row to the next (success, status, created, Id); the middle, from
// "object" to the source's topic, which the events of a job mostly share;
// and the tail, the event's position and source details. jsonMiddles keeps
// the last middle written.

// appendJSONHead appends r's JSON from its start to its "id".
func appendJSONHead(b []byte, r *Result) []byte {
	b = strconv.AppendBool(append(b, `{"success":`...), r.Success)
	b = appendJSONString(append(b, `,"status":`...), r.Status)
	if r.SkipReason != "" {
		b = appendJSONString(append(b, `,"skipReason":`...), r.SkipReason)
	}
	b = strconv.AppendBool(append(b, `,"created":`...), r.Created)
	b = append(b, `,"id":`...)
	if r.ID == nil {
		return append(b, "null"...)
	}
	return appendJSONString(b, *r.ID)
}

// appendJSONMiddle appends r's JSON from its "object" to its source's
// "topic", the object left open.
func appendJSONMiddle(b []byte, r *Result) []byte {
	b = appendJSONString(append(b, `,"object":`...), r.Object)
	b = appendJSONString(append(b, `,"operation":`...), r.Operation)
	b = appendJSONString(append(b, `,"errorCode":`...), r.ErrorCode)
	b = appendJSONString(append(b, `,"error":`...), r.Error)
	b = appendJSONString(append(b, `,"jobId":`...), r.JobID)
	b = strconv.AppendInt(append(b, `,"attempts":`...), int64(r.Attempts), 10)
	return appendJSONString(append(b, `,"source":{"topic":`...), r.Source.Topic)
}

// appendJSONTail appends the rest of r's JSON after appendJSONMiddle.
func appendJSONTail(b []byte, r *Result) []byte {
	b = strconv.AppendInt(append(b, `,"partition":`...), int64(r.Source.Partition), 10)
	b = strconv.AppendInt(append(b, `,"offset":`...), r.Source.Offset, 10)
	b = append(b, '}')
	if s := r.ReplayOf; s != nil {
		b = appendJSONString(append(b, `,"replayOf":{"topic":`...), s.Topic)
		b = strconv.AppendInt(append(b, `,"partition":`...), int64(s.Partition), 10)
		b = strconv.AppendInt(append(b, `,"offset":`...), s.Offset, 10)
		b = append(b, '}')
	}
	if r.SourceTimestamp != 0 {
		b = strconv.AppendInt(append(b, `,"sourceTimestamp":`...), r.SourceTimestamp, 10)
	}
	if len(r.SourceHeaders) > 0 {
		b = append(b, `,"sourceHeaders":[`...)
		for i, h := range r.SourceHeaders {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(append(b, `{"key":`...), h.Key)
			b = append(appendJSONString(append(b, `,"value":`...), h.Value), '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// jsonMiddles writes results' JSON as AppendJSON does, keeping the middle
// of the last one (see appendJSONMiddle) to copy for the next one with the
// same object, operation, error, job, attempts and topic: the results of a
// job's chunk, but for failures with messages of their own, share it, and
// writing it was over half of encoding a result. Its strings are the
// results' own, compared (most often by pointer, which is quick) and kept
// until the next middle. The zero value is ready to use; it is not safe for
// concurrent use.
type jsonMiddles struct {
	object, operation, errorCode, error, jobID, topic string
	attempts                                          int
	middle                                            []byte // nil: none yet
}

// append appends r's JSON to b.
func (m *jsonMiddles) append(b []byte, r *Result) []byte {
	b = appendJSONHead(b, r)
	if m.middle == nil || r.Object != m.object || r.Operation != m.operation || r.ErrorCode != m.errorCode ||
		r.Error != m.error || r.JobID != m.jobID || r.Attempts != m.attempts || r.Source.Topic != m.topic {
		m.object, m.operation, m.errorCode, m.error, m.jobID, m.attempts, m.topic =
			r.Object, r.Operation, r.ErrorCode, r.Error, r.JobID, r.Attempts, r.Source.Topic
		m.middle = appendJSONMiddle(m.middle[:0], r)
	}
	return appendJSONTail(append(b, m.middle...), r)
}

// plainJSON tells the ASCII bytes that a JSON string holds as they are in
// encoding/json's output: not a control character, a quote, a backslash,
// nor <, > or & (which it escapes for HTML).
var plainJSON = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			ch, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case ch == utf8.RuneError && size == 1:
				b = append(append(b, s[start:i]...), `\ufffd`...)
			case ch == '\u2028' || ch == '\u2029':
				b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[ch&0xF])
			default:
				i += size
				continue
			}
			i += size
			start = i
			continue
		}
		if plainJSON[c] {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
