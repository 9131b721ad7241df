package bulkemu

import (
	"io"
	"net/http"
	"time"
)

// maxHeaderBytes is Salesforce's limit on a request's URI and headers
// together; beyond it (and net/http's 4 KiB of slack) the server answers
// 431 Request Header Fields Too Large.
const maxHeaderBytes = 16 << 10

// Server returns an http.Server that serves the emulator and that many idle
// or slow clients cannot exhaust: a client has ReadHeaderTimeout to send a
// request's headers (of at most 16 KiB) and, between requests, IdleTimeout
// before its connection is closed; ServeHTTP adds StallTimeout to request
// bodies and responses. It sets no ReadTimeout or WriteTimeout, which
// would bound whole requests and cut a large upload or result file on a
// slow link. The caller starts and shuts it down.
func (e *Emulator) Server() *http.Server {
	return &http.Server{
		Handler:           e,
		ReadHeaderTimeout: e.opts.ReadHeaderTimeout,
		IdleTimeout:       e.opts.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// stallGuard is a request body that must keep coming: each read has the
// stall timeout to return, and so has the server's own read of a body the
// handler left unread. Once the body has been read to its end, the read
// deadline is lifted, since net/http then reads the connection in the
// background to notice a client that goes away.
//
// A read of a body with a Content-Length returns what has arrived, so the
// deadline bounds pauses. A read of a chunked body waits until its buffer
// is full or its chunk ends, so reads of one are at most chunkedRead bytes:
// a chunked upload is cut off only when less than that arrives within the
// stall timeout, whatever size its chunks have.
type stallGuard struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	maxRead int // 0: no limit
}

// chunkedRead is the most a stallGuard reads of a chunked body at once.
const chunkedRead = 4 << 10

func newStallGuard(body io.ReadCloser, rc *http.ResponseController, timeout time.Duration, chunked bool) *stallGuard {
	g := &stallGuard{ReadCloser: body, rc: rc, timeout: timeout}
	if chunked {
		g.maxRead = chunkedRead
	}
	g.extend()
	return g
}

// extend gives the next read the whole timeout. Deadlines are not supported
// by an httptest.ResponseRecorder, which needs none.
func (g *stallGuard) extend() { g.rc.SetReadDeadline(time.Now().Add(g.timeout)) }

func (g *stallGuard) Read(p []byte) (int, error) {
	if g.maxRead > 0 && len(p) > g.maxRead {
		p = p[:g.maxRead]
	}
	g.extend()
	n, err := g.ReadCloser.Read(p)
	if err == io.EOF {
		g.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
