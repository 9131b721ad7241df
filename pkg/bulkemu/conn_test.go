package bulkemu

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// newServedOrg is newOrg behind the server that Server returns, as
// `connector emulator` serves it.
func newServedOrg(t *testing.T, opts Options) *org {
	t.Helper()
	emu := New(opts)
	srv := emu.Server()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &org{t: t, emu: emu, url: "http://" + ln.Addr().String(), token: emu.Token()}
}

// sendUploadHeaders opens a connection and sends the headers of an upload
// to job id that declares contentLength bytes, and no body.
func (o *org) sendUploadHeaders(id string, contentLength int64) net.Conn {
	o.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(o.url, "http://"))
	if err != nil {
		o.t.Fatal(err)
	}
	_, err = fmt.Fprintf(c, "PUT /services/data/v62.0/jobs/ingest/%s/batches HTTP/1.1\r\nHost: emulator\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: text/csv\r\nContent-Length: %d\r\n\r\n", id, o.token, contentLength)
	if err != nil {
		o.t.Fatal(err)
	}
	return c
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestUploadHeadersWithoutBodiesCannotExhaustTheEmulator is the attack of
// a shared emulator: 1,000 connections declare a 100 MB upload and send
// nothing. The emulator must not allocate for what is declared, and must
// close the connections once they stall. (Before uploads were read under
// a budget, 100 such connections grew the heap by 9.3 GiB and 1,000 got the
// process killed.)
func TestUploadHeadersWithoutBodiesCannotExhaustTheEmulator(t *testing.T) {
	const (
		conns = 1000
		stall = 3 * time.Second
		bound = 64 << 20
	)
	o := newServedOrg(t, Options{StallTimeout: stall})
	id := o.createJob(`{"object":"Account","operation":"insert"}`)
	before := heapInUse()
	apiRequests := o.emu.requests.Load()
	open := make([]net.Conn, conns)
	for i := range open {
		open[i] = o.sendUploadHeaders(id, 100_000_000)
		defer open[i].Close()
	}
	sent := time.Now()
	for o.emu.requests.Load() < apiRequests+conns {
		if time.Since(sent) > 10*time.Second {
			t.Fatalf("%d of %d uploads reached the emulator in 10s", o.emu.requests.Load()-apiRequests, conns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // for the last handlers to reach their first read
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap in use grew by %.1f MiB with %d uploads waiting for their bodies", float64(grown)/(1<<20), conns)
	if grown > bound {
		t.Errorf("heap in use grew by %d MiB, want less than %d MiB", grown>>20, bound>>20)
	}

	// Each connection gets an answer and is closed once it has sent
	// nothing for the stall timeout.
	deadline := sent.Add(stall + 5*time.Second)
	for i, c := range open {
		c.SetReadDeadline(deadline)
		status, _ := bufio.NewReader(c).ReadString('\n')
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("connection %d (answered %q) still open %v after its headers: %v", i, status, time.Since(sent).Round(time.Millisecond), err)
		}
		if !strings.HasPrefix(status, "HTTP/1.1 400") {
			t.Fatalf("connection %d answered %q, want 400", i, status)
		}
	}
	if held := o.emu.uploads.held.Load(); held != 0 {
		t.Errorf("%d bytes of upload memory still held after every upload failed", held)
	}
}

// TestStallTimeoutBoundsPausesNotUploads sends an upload that takes twice
// the stall timeout but never pauses for more than a quarter of it: it is
// taken. One that pauses longer is cut off and leaves the job Open for
// another try.
func TestStallTimeoutBoundsPausesNotUploads(t *testing.T) {
	const stall = 400 * time.Millisecond
	o := newServedOrg(t, Options{StallTimeout: stall})
	upload := func(id string, pause time.Duration) (*http.Response, error) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte("Name\n"))
			for i := range 8 {
				time.Sleep(pause)
				if _, err := fmt.Fprintf(pw, "Slow %d\n", i); err != nil {
					return // the upload was cut off
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("PUT", o.url+"/services/data/v62.0/jobs/ingest/"+id+"/batches", pr)
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+o.token)
		return http.DefaultTransport.RoundTrip(req)
	}

	slow := o.createJob(`{"object":"Account","operation":"insert"}`)
	resp, err := upload(slow, stall/4)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload pausing %v of %v: %v %v", stall/4, stall, resp, err)
	}
	resp.Body.Close()

	stalled := o.createJob(`{"object":"Account","operation":"insert"}`)
	if resp, err := upload(stalled, 2*stall); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("upload pausing %v of %v answered %d, want 400 or a closed connection", 2*stall, stall, resp.StatusCode)
		}
	}
	if info := o.do("GET", "/jobs/ingest/"+stalled, "", "").json(t); info["state"] != stateOpen {
		t.Fatalf("job of the stalled upload is %v, want Open", info["state"])
	}
	if r := o.do("PUT", "/jobs/ingest/"+stalled+"/batches", "text/csv", "Name\nAgain\n"); r.status != http.StatusCreated {
		t.Fatalf("upload after a stalled one: %d %s", r.status, r.body)
	}
}

// TestUploadMemoryIsBoundedAndReleasedOnDelete fills MaxUploadMemory with
// one job's upload: the next upload is refused with 503 and its job stays
// Open, and once the first job is deleted the same upload is taken.
func TestUploadMemoryIsBoundedAndReleasedOnDelete(t *testing.T) {
	csv := "Name\n" + strings.Repeat("An account of the bounded org\n", 1500) // 45,005 bytes
	o := newServedOrg(t, Options{MaxUploadMemory: 64 << 10})
	first, _ := o.load(`{"object":"Account","operation":"insert"}`, csv)
	if held := o.emu.uploads.held.Load(); held != int64(len(csv)) {
		t.Fatalf("upload memory holds %d bytes for an upload of %d with a Content-Length", held, len(csv))
	}

	second := o.createJob(`{"object":"Account","operation":"insert"}`)
	o.do("PUT", "/jobs/ingest/"+second+"/batches", "text/csv", csv).wantError(t, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "--max-upload-memory")
	if info := o.do("GET", "/jobs/ingest/"+second, "", "").json(t); info["state"] != stateOpen {
		t.Fatalf("job of the refused upload is %v, want Open", info["state"])
	}
	if held := o.emu.uploads.held.Load(); held != int64(len(csv)) {
		t.Fatalf("upload memory holds %d bytes after a refused upload, want %d", held, len(csv))
	}

	if r := o.do("DELETE", "/jobs/ingest/"+first, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if held := o.emu.uploads.held.Load(); held != 0 {
		t.Fatalf("upload memory holds %d bytes after the job was deleted", held)
	}
	if r := o.do("PUT", "/jobs/ingest/"+second+"/batches", "text/csv", csv); r.status != http.StatusCreated {
		t.Fatalf("upload once there is room: %d %s", r.status, r.body)
	}
}

// TestDeclaredOversizeUploadIsRefusedAtOnce: an upload whose Content-Length
// is beyond Salesforce's limit is answered 413 before any of it is read.
func TestDeclaredOversizeUploadIsRefusedAtOnce(t *testing.T) {
	o := newServedOrg(t, Options{})
	id := o.createJob(`{"object":"Account","operation":"insert"}`)
	c := o.sendUploadHeaders(id, maxUploadBytes+1)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to an oversized upload before its body: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	response{status: resp.StatusCode, body: string(body)}.wantError(t, http.StatusRequestEntityTooLarge, "EXCEEDED_MAX_SIZE_REQUEST", "100 MB")
}

// TestStallTimeoutBoundsPausesOfChunkedUploads: a chunked upload whose one
// large chunk arrives slowly but steadily is taken, although no read of
// the whole chunk could finish within the stall timeout. A piece comes
// every stall/20, so a read of chunkedRead (4 pieces) has most of the
// stall timeout to spare for a loaded machine (the race detector in CI),
// and the chunk takes 64 pieces, over 3 stall timeouts.
func TestStallTimeoutBoundsPausesOfChunkedUploads(t *testing.T) {
	const (
		stall = 500 * time.Millisecond
		piece = 1 << 10
		size  = 64 * piece
	)
	o := newServedOrg(t, Options{StallTimeout: stall})
	id := o.createJob(`{"object":"Account","operation":"insert"}`)
	c, err := net.Dial("tcp", strings.TrimPrefix(o.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /services/data/v62.0/jobs/ingest/%s/batches HTTP/1.1\r\nHost: emulator\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", id, o.token, size)
	line := strings.Repeat("x", 63) + "\n"
	body := "Name\n" + strings.Repeat(line, (size-5)/len(line))
	body += strings.Repeat("y", size-len(body)-1) + "\n"
	for i := 0; i < size; i += piece {
		if _, err := io.WriteString(c, body[i:i+piece]); err != nil {
			t.Fatalf("upload cut off after %d of %d bytes: %v", i, size, err)
		}
		time.Sleep(stall / 20)
	}
	io.WriteString(c, "\r\n0\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a slow chunked upload: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("slow chunked upload answered %d, want 201", resp.StatusCode)
	}
}
