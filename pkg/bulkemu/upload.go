package bulkemu

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// uploadMemory counts the bytes of upload buffers the emulator holds: those
// kept with their jobs until the jobs are deleted, and those of uploads
// still being read. It is the one place that bounds what clients can make
// the emulator hold. Safe for concurrent use.
type uploadMemory struct {
	limit int64
	held  atomic.Int64
}

// reserve takes n bytes of the budget, or nothing and false if that would
// go beyond the limit.
func (m *uploadMemory) reserve(n int64) bool {
	for {
		held := m.held.Load()
		if held+n > m.limit {
			return false
		}
		if m.held.CompareAndSwap(held, held+n) {
			return true
		}
	}
}

func (m *uploadMemory) release(n int64) { m.held.Add(-n) }

// errUploadMemoryFull answers an upload that would take the emulator's
// upload memory beyond Options.MaxUploadMemory. It is a 503, the status of
// a Salesforce that cannot take the request now: nothing was stored, the job
// stays Open, and the same upload succeeds once jobs were deleted.
func errUploadMemoryFull(limit int64) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "SERVER_UNAVAILABLE",
		Message: fmt.Sprintf("The emulator already holds its limit of %d bytes of uploaded data (Options.MaxUploadMemory, --max-upload-memory); delete finished jobs to make room, then upload again", limit)}
}

// minUploadBuffer is the first buffer an upload gets once its first byte
// arrived; it grows from there (see uploadBufferSize).
const minUploadBuffer = 4 << 10

// readUpload reads an upload of at most limit bytes from body, holding its
// buffer in the upload memory. The buffer grows with the bytes that arrive,
// never ahead of them from what the request declares: sizeHint (the
// Content-Length of a body that is not compressed, or -1) only caps a
// growth so that a body of the declared size ends in a buffer of exactly
// that size. It answers tooLarge for a longer body, errUploadMemoryFull when
// the memory is used up and API_ERROR when the body cannot be read (the
// client stalled or went away); then it holds nothing.
func (e *Emulator) readUpload(body io.Reader, limit, sizeHint int64, tooLarge *apiError) (*ingestData, error) {
	var (
		buf   []byte
		probe [1]byte
	)
	fail := func(err error) (*ingestData, error) {
		e.uploads.release(int64(cap(buf)))
		return nil, err
	}
	for {
		if len(buf) < cap(buf) {
			n, err := body.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				return fail(readError(err))
			}
			continue
		}
		// The buffer is full: grow it only once another byte has come, so
		// that neither an idle client nor a body that fits exactly makes
		// the emulator allocate.
		if _, err := io.ReadFull(body, probe[:]); err == io.EOF {
			break
		} else if err != nil {
			return fail(readError(err))
		}
		if int64(len(buf)) >= limit {
			return fail(tooLarge)
		}
		next := uploadBufferSize(int64(cap(buf)), sizeHint, limit)
		if !e.uploads.reserve(next - int64(cap(buf))) {
			return fail(errUploadMemoryFull(e.opts.MaxUploadMemory))
		}
		grown := make([]byte, len(buf), next)
		copy(grown, buf)
		buf = append(grown, probe[0])
	}
	return &ingestData{csv: buf, held: int64(cap(buf))}, nil
}

// uploadBufferSize returns the size to grow a full upload buffer of size
// cur to: at least minUploadBuffer and no more than limit; four times cur,
// but no more than the declared size, when that is larger than cur; else
// twice cur. The final buffer of a body of the declared size is that size
// however fast it grows, and growing by four copies a third of the bytes
// doubling copies (copying into doubled buffers, which are faulted in as
// they are written, was 4% of BenchmarkUpsertJob's CPU); a body of no
// declared size keeps its last buffer, at most twice its size.
func uploadBufferSize(cur, sizeHint, limit int64) int64 {
	next := max(2*cur, minUploadBuffer)
	if sizeHint > cur {
		next = min(max(4*cur, minUploadBuffer), sizeHint)
	}
	return min(next, limit)
}

// readError is the answer to an upload whose body could not be read; the
// client stalled longer than StallTimeout (an i/o timeout) or went away.
func readError(err error) *apiError {
	return badRequest("API_ERROR", "Cannot read the upload: "+err.Error())
}

// plainLength returns the declared length of a request body that is not
// compressed, the size its upload will have, or -1.
func plainLength(r *http.Request) int64 {
	if enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc != "" && enc != "identity" {
		return -1
	}
	return r.ContentLength
}

// dropUpload releases the memory of an upload that no job needs any more:
// its job was deleted, or it was read for a job that could not take it.
func (e *Emulator) dropUpload(data *ingestData) {
	if data != nil {
		e.uploads.release(data.held)
	}
}
