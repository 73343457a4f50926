package dnsd

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatdns/moat/internal/cache"
	"github.com/moatdns/moat/internal/hosts"
	"github.com/moatdns/moat/internal/workerproc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Tunables. dnsmasq retries a silent server after about a second and gives
// up on a query after tens of seconds; clients (glibc: 5 s, dig: 5 s) give
// up much sooner, so dnsd tries each server briefly and stays within what a
// client still waits for.
const (
	udpTryTimeout   = 1500 * time.Millisecond
	tcpTryTimeout   = 3 * time.Second
	forwardBudget   = 4 * time.Second
	tcpIdleTimeout  = 10 * time.Second
	maxTCPConns     = 64
	maxForwards     = 150 // dnsmasq's dns-forward-max default
	maxTCPQueries   = 1000
	maxUpstreamRead = 100 // datagrams read per try before giving up on a server
)

// state is one generation of everything the query path reads. It is
// swapped whole, so a query sees one consistent configuration.
type state struct {
	cfg   *runConfig
	hosts *hosts.Table
	cache *cache.Cache
	fast  fastState  // area B: set by installCache
	local *localZone // area A: configured records, hostsdir, address= (local_zone.go)
}

// counters are dnsd's statistics (exported as metrics later).
type counters struct {
	queries          atomic.Uint64 // datagrams and TCP messages received
	malformed        atomic.Uint64 // dropped: unparsable, a response, qdcount != 1
	notImplemented   atomic.Uint64
	disallowed       atomic.Uint64 // dropped: destination or interface not served
	hostsAnswers     atomic.Uint64
	localAnswers     atomic.Uint64 // local=/dom/ negative answers
	cacheHits        atomic.Uint64
	refused          atomic.Uint64 // no upstream configured
	forwarded        atomic.Uint64 // upstream exchanges started
	upstreamMismatch atomic.Uint64 // replies with a wrong ID or question
	upstreamBad      atomic.Uint64 // unparsable replies
	upstreamErrors   atomic.Uint64 // timeouts, refused connections, ...
	servfail         atomic.Uint64 // every server failed
	forwardDropped   atomic.Uint64 // over maxForwards
	clientLimited    atomic.Uint64 // over a client's share of maxForwards
	tcpRejected      atomic.Uint64 // over maxTCPConns or not allowed
	tcpEvicted       atomic.Uint64 // idle connections closed for a new one
	writeErrors      atomic.Uint64
	panics           atomic.Uint64 // handler panics recovered (recover.go)
	rcodes           rcodeCounts   // replies sent, by RCODE (stats_rcode.go)
}

// Server answers DNS on the sockets it was given.
type Server struct {
	st    atomic.Pointer[state]
	stats counters
	filt  filterState // area D: NetState, filter counters, log serials
	log   *asyncLog

	// localSet is the local data last received (area A, local_install.go).
	localSet localSet

	// up is the forwarding state: flights, server states, shared sockets
	// (area C, upstream_flight.go).
	up upstreamRuntime

	// dyn holds the listeners by address, for bind-dynamic's removals
	// (area H, sockets_dynamic.go).
	dyn dynamicSockets

	udpTry, tcpTry, budget, tcpIdle time.Duration
	tcpMaxConns                     int
	forwardSlots                    chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closers map[io.Closer]struct{}
	stopped bool
}

func newServer(logw io.Writer) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		log:          newAsyncLog(logw),
		udpTry:       udpTryTimeout,
		tcpTry:       tcpTryTimeout,
		budget:       forwardBudget,
		tcpIdle:      tcpIdleTimeout,
		tcpMaxConns:  maxTCPConns,
		forwardSlots: make(chan struct{}, maxForwards),
		ctx:          ctx,
		cancel:       cancel,
		closers:      make(map[io.Closer]struct{}),
	}
}

// install swaps in a configuration and hosts table. The cache survives
// unless the configuration's cache epoch (SIGHUP, clear-on-reload) or
// cache options changed; every install restarts the fast path's
// confirmation (installCache).
func (s *Server) install(cfg *runConfig, table *hosts.Table) {
	old := s.st.Load()
	next := &state{cfg: cfg, hosts: table, local: s.localSet.zone}
	installCache(old, next)
	s.st.Store(next)
}

// track registers something stop must close; it reports false (and the
// caller must close it) once the server is stopping.
func (s *Server) track(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.closers[c] = struct{}{}
	return true
}

func (s *Server) untrack(c io.Closer) {
	s.mu.Lock()
	delete(s.closers, c)
	s.mu.Unlock()
}

// start begins serving every socket. The descriptors are duplicated by the
// net package; the caller keeps its files.
func (s *Server) start(sockets []workerproc.Socket) error {
	type udpSock struct {
		conn    *net.UDPConn
		pktinfo bool
	}
	var udps []udpSock
	var tcps []*net.TCPListener
	fail := func(err error) error {
		for _, u := range udps {
			u.conn.Close()
		}
		for _, l := range tcps {
			l.Close()
		}
		return err
	}
	for i, sock := range sockets {
		if sock.File == nil || sock.Desc == nil {
			return fail(fmt.Errorf("socket %d: no descriptor", i))
		}
		switch sock.Desc.GetKind() {
		case ipcpb.Socket_KIND_DNS_UDP:
			pc, err := net.FilePacketConn(sock.File)
			if err != nil {
				return fail(fmt.Errorf("socket %d (%s): %w", i, sock.Desc.GetAddress(), err))
			}
			conn, ok := pc.(*net.UDPConn)
			if !ok {
				pc.Close()
				return fail(fmt.Errorf("socket %d (%s): not a UDP socket", i, sock.Desc.GetAddress()))
			}
			udps = append(udps, udpSock{conn, sock.Desc.GetPktinfo()})
			s.noteListener(sock.Desc.GetAddress(), conn) // area H: bind-dynamic closes it by address
		case ipcpb.Socket_KIND_DNS_TCP:
			l, err := net.FileListener(sock.File)
			if err != nil {
				return fail(fmt.Errorf("socket %d (%s): %w", i, sock.Desc.GetAddress(), err))
			}
			tl, ok := l.(*net.TCPListener)
			if !ok {
				l.Close()
				return fail(fmt.Errorf("socket %d (%s): not a TCP listener", i, sock.Desc.GetAddress()))
			}
			tcps = append(tcps, tl)
			s.noteListener(sock.Desc.GetAddress(), tl) // area H
		default:
			return fail(fmt.Errorf("socket %d (%s): kind %s is not for dnsd", i, sock.Desc.GetAddress(), sock.Desc.GetKind()))
		}
	}
	for _, u := range udps {
		if !s.track(u.conn) {
			return fail(fmt.Errorf("server stopped"))
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveUDP(u.conn, u.pktinfo)
		}()
	}
	for _, l := range tcps {
		if !s.track(l) {
			return fail(fmt.Errorf("server stopped"))
		}
		wildcard := false
		if a, ok := l.Addr().(*net.TCPAddr); ok {
			wildcard = a.IP.IsUnspecified()
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveTCP(l, wildcard)
		}()
	}
	return nil
}

// stop closes every socket and connection, cancels forwards, waits for
// every goroutine and flushes the log.
func (s *Server) stop() {
	s.mu.Lock()
	s.stopped = true
	closers := s.closers
	s.closers = map[io.Closer]struct{}{}
	s.mu.Unlock()
	s.cancel()
	for c := range closers {
		c.Close()
	}
	s.wg.Wait()
	s.log.close()
}
