package dhcpd

import (
	"fmt"
	"os"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/dhcpserver"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// server is dhcpd's state: the engine built from the master's latest
// DHCPConfig, what it was built from, and the sockets it serves.
type server struct {
	generation uint64
	cfg        *config.Config    // parsed from the options text
	hosts      []config.DHCPHost // from the hosts files and /etc/ethers
	engine     *dhcpserver.Engine

	state *ipcpb.DHCPState // interfaces and leases, from the master at start
	links map[int]*link    // by interface index (serve.go)
	// linkFiles are each link's socket files, closed when the interface
	// goes (links.go); startSockets the interface sockets that came
	// before the DHCPState, attached with the SocketSet's.
	linkFiles    map[int][]*os.File
	startSockets []socketsChange
	// arrivals is the serving loop's channel of receive batches, which
	// the reader of a link added while it runs feeds (nil before run).
	arrivals chan *rxBatch
	// stream assembles a DHCPConfig streamed after start (SIGHUP).
	stream ipc.DHCPConfigAssembler
	ping   *pinger // nil: no ICMP socket, probes answer "free" (ping.go)
	// routed is the send-only UDP :67 socket bound to no interface, for
	// replies that go where the routing table says; -1 if none.
	routed int
	files  []*os.File // keep the sockets' files (and descriptors) alive
	count  counters
	stats  dhcpStats // issue 6: messages by type, for metrics (stats.go)
	// decoder reads every request (serving goroutine only).
	decoder dhcpserver.Decoder
	// commitOut are the LeaseCommits of this round of the serving loop
	// (serve.go: flushCommits).
	commitOut []*ipcpb.Envelope
}

// configure waits for what the master sends before Ready: the
// interfaces' sockets (DHCPSocketsChanged, kept for attachSockets), the
// DHCPState (streamed: the head, lease chunks, the end) and the first
// DHCPConfig (streamed: begin, chunks, end), and builds the engine from
// them. Anything else before them breaks the protocol.
func configure(conn *ipc.Conn) (*server, error) {
	s := &server{routed: -1}
	head, err := s.recvStartSockets(conn)
	if err != nil {
		closeStartSockets(s)
		return nil, err
	}
	st, err := ipc.RecvDHCPState(func() (*ipcpb.Envelope, error) {
		if m := head; m != nil {
			head = nil
			return m, nil
		}
		return recvNoFDs(conn, "dhcp state")
	})
	if err != nil {
		closeStartSockets(s)
		return nil, fmt.Errorf("ipc: %w", err)
	}
	s.state = st
	dc, err := ipc.RecvDHCPConfig(func() (*ipcpb.Envelope, error) { return recvNoFDs(conn, "dhcp config") })
	if err != nil {
		closeStartSockets(s)
		return nil, fmt.Errorf("ipc: %w", err)
	}
	if err := s.apply(dc); err != nil {
		closeStartSockets(s)
		return nil, err
	}
	s.engine.LoadLeases(leasesFromState(s.state))
	return s, nil
}

func closeStartSockets(s *server) {
	for _, c := range s.startSockets {
		closeFiles(c.files)
	}
	s.startSockets = nil
}

// configStream feeds a message of a DHCPConfig streamed after start to
// the assembler and, on its end, swaps the new configuration in. A
// broken stream means a confused master: dhcpd stops, and its successor
// gets the configuration whole.
func (s *server) configStream(m *ipcpb.Envelope) error {
	dc, err := s.stream.Add(m)
	if err != nil {
		return fmt.Errorf("ipc: %w", err)
	}
	if dc == nil {
		return nil // the old configuration serves until the end
	}
	// Probes in flight stay with the pinger: the new engine answers
	// them (apply).
	return s.apply(dc)
}

func recvNoFDs(conn *ipc.Conn, what string) (*ipcpb.Envelope, error) {
	m, fds, err := conn.Recv()
	closeFDs(fds)
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", what, err)
	}
	if len(fds) > 0 {
		return nil, fmt.Errorf("ipc: %d unexpected descriptors with %T", len(fds), m.GetMsg())
	}
	return m, nil
}

// apply parses a DHCPConfig and swaps in a new engine built from it.
// The master checked the text parses before sending it, so an error
// here means a confused master: dhcpd stops rather than guess. What the
// old engine had carries over (dhcpserver.Engine.CarryOver): its
// leases, and what clients wait for: a DISCOVER parked for its ping
// check is answered by the new engine when the probe ends, and an ACK
// held for its commit leaves when the master confirms it.
func (s *server) apply(dc *ipcpb.DHCPConfig) error {
	if dc.GetGeneration() <= s.generation {
		return fmt.Errorf("dhcp config: generation %d after %d", dc.GetGeneration(), s.generation)
	}
	cfg, hosts, err := parseDHCPConfig(dc)
	if err != nil {
		return err
	}
	settings := dhcpserver.SettingsFromConfig(cfg)
	settings.Hosts = hosts
	// The exchange log goes to stderr, which the master logs as dhcpd's.
	settings.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	engine, err := dhcpserver.New(settings)
	if err != nil {
		return fmt.Errorf("dhcp config generation %d: %w", dc.GetGeneration(), err)
	}
	if s.engine != nil {
		engine.CarryOver(s.engine)
	}
	s.generation, s.cfg, s.hosts, s.engine = dc.GetGeneration(), cfg, hosts, engine
	return nil
}

// parseDHCPConfig turns the master's texts back into a configuration and
// the hosts from files. Bad lines in the hosts files are skipped, as the
// master (which logged them) expects.
func parseDHCPConfig(dc *ipcpb.DHCPConfig) (*config.Config, []config.DHCPHost, error) {
	cfg, err := config.ParseText("dhcp-config", dc.GetOptions())
	if err != nil {
		return nil, nil, fmt.Errorf("dhcp config generation %d: %w", dc.GetGeneration(), err)
	}
	if !cfg.DHCP.Enabled() {
		return nil, nil, fmt.Errorf("dhcp config generation %d: no dhcp-range", dc.GetGeneration())
	}
	files := make([]config.DHCPFileText, 0, len(dc.GetHostsFiles()))
	for _, f := range dc.GetHostsFiles() {
		files = append(files, config.DHCPFileText{Name: f.GetName(), Text: f.GetText()})
	}
	var ethers *config.DHCPFileText
	if e := dc.GetEthers(); e != nil {
		ethers = &config.DHCPFileText{Name: e.GetName(), Text: e.GetText()}
	}
	hosts, _ := config.DHCPFileHosts(cfg.DHCP.Hosts, files, ethers)
	return cfg, hosts, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = os.NewFile(uintptr(fd), "").Close()
	}
}
