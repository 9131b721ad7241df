package harness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a service (the emulator), which a test
// turns off and on, slows down, or cuts, to play a network or Salesforce
// outage. It listens on one port on 127.0.0.1 for its whole life, so a
// client configured with its address finds it again after Start.
//
// Its methods may be called from any goroutine; mu guards the listener and
// the set of open connections, each forwarded by two goroutines of its own.
type Proxy struct {
	target string
	addr   string
	delay  atomic.Int64 // time.Duration added before each chunk is forwarded

	mu    sync.Mutex
	ln    net.Listener          // nil while stopped
	gen   int                   // counts listens, so a connection accepted before a Stop is not kept after it
	conns map[net.Conn]struct{} // both ends of every forwarded connection
}

// StartProxy starts a proxy to target (host:port) on a free port of
// 127.0.0.1; it closes when the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Stop)
	return p
}

// URL is http://host:port of the proxy: where a client finds the proxied
// HTTP service.
func (p *Proxy) URL() string { return "http://" + p.addr }

// Stop closes the listener and every connection: requests in flight fail,
// and new connections are refused until Start. Stopping a stopped proxy does
// nothing.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Start listens again on the proxy's port after a Stop. The port was in use
// by this proxy only, but the kernel may take a moment to release it, so
// Start tries for up to 5 seconds.
func (p *Proxy) Start() error {
	p.mu.Lock()
	running := p.ln != nil
	p.mu.Unlock()
	if running {
		return nil
	}
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return fmt.Errorf("proxy: listen again on %s: %w", p.addr, err)
}

// Delay makes the proxy wait d before forwarding each chunk of data, in
// both directions, on current and future connections; 0 turns it off.
func (p *Proxy) Delay(d time.Duration) { p.delay.Store(int64(d)) }

// Reset cuts every current connection with a TCP reset (SO_LINGER 0), as a
// firewall or a load balancer that drops state does; new connections are
// accepted as before.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns { // all first: closing one end makes its forwarder close the other
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// serve accepts on ln until it is closed.
func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.gen++
	gen := p.gen
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c, gen)
		}
	}()
}

// forward connects c to the target and copies both ways until either side
// ends or the proxy cuts them.
func (p *Proxy) forward(c net.Conn, gen int) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.gen != gen || p.ln == nil { // stopped while dialling
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.copy(up, c) }()
	go func() { defer wg.Done(); p.copy(c, up) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
	c.Close()
	up.Close()
}

// copy forwards src to dst chunk by chunk, each after the delay; at the end
// of src it half-closes dst, so a client that shuts its side down is seen
// doing so.
func (p *Proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.delay.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err == io.EOF {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}
