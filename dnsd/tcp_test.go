package dnsd

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// closedByServer reports whether the server closed c (read gives EOF or a
// reset) within the wait.
func closedByServer(t *testing.T, c net.Conn, wait time.Duration) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func TestTCPIdleTimeout(t *testing.T) {
	d := startDNSD(t, upstreamCfg(), "10.0.0.1 bar.lan\n", instanceOptions{tune: func(s *Server) {
		s.tcpIdle = 200 * time.Millisecond
	}})
	c, err := net.Dial("tcp", d.tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := &dns.Conn{Conn: c}
	if err := conn.WriteMsg(newQuery("bar.lan.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.ReadMsg(); err != nil || len(r.Answer) != 1 {
		t.Fatalf("reply %v, %v", r, err)
	}
	if !closedByServer(t, c, 5*time.Second) {
		t.Error("an idle connection stayed open")
	}
}

// blockingWriter blocks every Write until released.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

func TestAsyncLogNeverBlocks(t *testing.T) {
	w := blockingWriter{release: make(chan struct{})}
	l := newAsyncLog(w)
	for i := range 2 * logQueueLen {
		l.printf("line %d", i)
	}
	if l.dropped.Load() == 0 {
		t.Error("no line dropped although the writer is stuck")
	}
	close(w.release)
	l.close()
}
