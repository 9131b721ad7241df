package bulk

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	kgzip "github.com/klauspost/compress/gzip"
)

// errTryOver is what a caller's reader looks like to a request try that has
// already ended.
var errTryOver = errors.New("request try is over")

// streamBody is an upload body read from the caller's io.Reader, as it is,
// or compressed on the fly through a pipe. Nothing is buffered beyond the
// copy buffers, so a 100 MB upload costs kilobytes of memory.
//
// A try may be repeated only if the reader can be rewound (an io.Seeker whose
// Seek works; a pipe's Seek fails) or if the failed try read nothing from it.
// Once a try is over, release makes sure the transport, which may still hold
// the body, can no longer read the caller's reader, and, before a rewind,
// that no read is in progress.
type streamBody struct {
	src    io.Reader
	seeker io.Seeker // nil when src cannot be rewound
	start  int64     // offset of src when the upload began
	size   int64     // bytes to send, -1 if unknown
	gzip   bool

	cur  *guardedReader // source of the current try
	zip  *gzipPipe      // compressor of the current try, if gzip
	used bool           // a finished try read from src
}

func newStreamBody(r io.Reader, compress bool) (*streamBody, error) {
	b := &streamBody{src: r, size: -1, gzip: compress}
	s, ok := r.(io.Seeker)
	if !ok {
		return b, nil
	}
	start, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return b, nil // not really seekable (a pipe or a terminal)
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return b, nil
	}
	if _, err := s.Seek(start, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek upload data back to %d: %w", start, err)
	}
	b.seeker, b.start = s, start
	if !compress {
		b.size = end - start
	}
	return b, nil
}

func (b *streamBody) replayable() bool { return !b.used || b.seeker != nil }

func (b *streamBody) open() (io.ReadCloser, int64, error) {
	if b.used {
		if b.seeker == nil {
			return nil, 0, errors.New("upload data was partly sent and cannot be rewound")
		}
		if _, err := b.seeker.Seek(b.start, io.SeekStart); err != nil {
			return nil, 0, fmt.Errorf("rewind upload data: %w", err)
		}
	}
	b.cur = &guardedReader{src: b.src}
	if !b.gzip {
		return io.NopCloser(b.cur), b.size, nil
	}
	pr, pw := io.Pipe()
	b.zip = &gzipPipe{src: b.cur, pr: pr, pw: pw, done: make(chan struct{})}
	return b.zip, -1, nil
}

func (b *streamBody) release() {
	b.cur.stop()
	if b.zip != nil {
		b.zip.stop()
	}
	if b.seeker != nil {
		// About to be rewound: wait until nothing reads src.
		b.cur.wait()
		if b.zip != nil {
			b.zip.wait()
		}
		b.used = true
		return
	}
	b.used = b.cur.consumed()
}

// guardedReader passes reads through to src until it is stopped, and counts
// what it read.
type guardedReader struct {
	mu      sync.Mutex // held during a read of src
	src     io.Reader
	n       int64
	stopped atomic.Bool
}

func (g *guardedReader) Read(p []byte) (int, error) {
	if g.stopped.Load() {
		return 0, errTryOver
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped.Load() {
		return 0, errTryOver
	}
	n, err := g.src.Read(p)
	g.n += int64(n)
	return n, err
}

func (g *guardedReader) stop() { g.stopped.Store(true) }

// wait returns once no read of src is in progress: taking the lock is the
// waiting.
func (g *guardedReader) wait() {
	g.mu.Lock()
	defer g.mu.Unlock()
}

// consumed reports whether src has been read from, counting a read still in
// progress as consumption.
func (g *guardedReader) consumed() bool {
	if !g.mu.TryLock() {
		return true
	}
	defer g.mu.Unlock()
	return g.n > 0
}

// gzipPipe is a request body that compresses src. The compressor starts on
// the first read, so a try that fails before the transport reads the body
// (no connection) leaves src untouched.
type gzipPipe struct {
	src     io.Reader
	pr      *io.PipeReader
	pw      *io.PipeWriter
	once    sync.Once
	started bool
	done    chan struct{}
}

func (z *gzipPipe) Read(p []byte) (int, error) {
	z.once.Do(z.start)
	return z.pr.Read(p)
}

func (z *gzipPipe) Close() error { return z.pr.Close() }

func (z *gzipPipe) start() {
	z.started = true
	go func() {
		defer close(z.done)
		// BestSpeed: CSV compresses to about a seventh at any level,
		// and the default level would make the compressor, not the
		// network, the bottleneck (~100 MB/s against ~350 MB/s).
		zw, err := gzip.NewWriterLevel(z.pw, gzip.BestSpeed)
		if err == nil {
			_, err = io.Copy(zw, z.src)
		}
		if err == nil {
			err = zw.Close()
		}
		z.pw.CloseWithError(err)
	}()
}

// stop ends the try: the compressor fails its next write, and it cannot
// start any more.
func (z *gzipPipe) stop() {
	z.pr.CloseWithError(errTryOver)
	z.once.Do(func() {})
}

// wait returns once the compressor has finished. Call it after stop.
func (z *gzipPipe) wait() {
	if z.started {
		<-z.done
	}
}

// gunzipBody decompresses a response body that came with
// Content-Encoding: gzip. The gzip header is read on the first Read, so that
// an error in it surfaces there and not before the caller sees the response.
// Its decompressor (klauspost/compress's, about a third faster than the
// standard library's at inflating result files) comes from gunzippers and
// goes back there on Close.
type gunzipBody struct {
	src io.ReadCloser
	zr  *kgzip.Reader
	err error
}

// gunzippers recycles decompressors: each holds a 32 KiB window and its
// tables, which a job's three result files would otherwise make anew.
var gunzippers sync.Pool

func (g *gunzipBody) Read(p []byte) (int, error) {
	if g.zr == nil {
		if g.err != nil {
			return 0, g.err
		}
		zr, err := newGunzipper(g.src)
		if err != nil {
			if err != io.EOF { // an empty body is an empty body
				err = fmt.Errorf("gunzip response: %w", err)
			}
			g.err = err
			return 0, err
		}
		g.zr = zr
	}
	return g.zr.Read(p)
}

// newGunzipper returns a decompressor reading src, a recycled one if any.
func newGunzipper(src io.Reader) (*kgzip.Reader, error) {
	if zr, ok := gunzippers.Get().(*kgzip.Reader); ok {
		if err := zr.Reset(src); err != nil {
			gunzippers.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return kgzip.NewReader(src)
}

// Close closes the body and recycles its decompressor, which reads
// nothing after.
func (g *gunzipBody) Close() error {
	if g.zr != nil {
		g.zr.Close()
		gunzippers.Put(g.zr)
		g.zr, g.err = nil, errors.New("gunzip response: read after Close")
	}
	return g.src.Close()
}
