package masterd

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/moatdns/moat/internal/config"
	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/internal/leasestore"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// commitTimeout bounds one LeaseCommit's wait for the journal; a commit
// that takes longer is answered not ok and dhcpd drops the held ACK.
const commitTimeout = 10 * time.Second

// leaseService is the master's side of dhcpd's lease commits: it checks
// every record against the configuration (dhcpd is not trusted) and makes
// it durable in the lease store before dhcpd may send the ACK.
type leaseService struct {
	store  *leasestore.Store
	ranges []config.DHCPRange
	hosts  map[netip.Addr]bool // dhcp-host addresses (configuration and files)
	log    *logger
}

// openLeaseService opens the lease store named by dhcp-leasefile.
func openLeaseService(cfg *config.Config, hosts []config.DHCPHost, log *logger) (*leaseService, error) {
	opts := leasestore.OptionsFromConfig(&cfg.DHCP)
	opts.Logf = func(format string, args ...any) { log.printf("master", "leases: "+format, args...) }
	st, err := leasestore.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("lease store: %w", err)
	}
	s := &leaseService{store: st, ranges: cfg.DHCP.Ranges, hosts: map[netip.Addr]bool{}, log: log}
	for _, h := range hosts {
		if h.Addr.IsValid() {
			s.hosts[h.Addr] = true
		}
	}
	log.printf("master", "lease store %s: %d leases", st.JournalPath(), st.Len())
	return s, nil
}

// handle answers one LeaseCommit on its own goroutine, so that commits
// arriving while one fsync runs join the next group commit.
func (s *leaseService) handle(conn *ipc.Conn, c *ipcpb.LeaseCommit) {
	id := c.GetId()
	recs, err := s.records(c.GetRecords())
	go func() {
		ok := err == nil
		if ok {
			ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
			err = s.store.Commit(ctx, recs)
			cancel()
			ok = err == nil
		}
		if err != nil {
			s.log.printf("master", "lease commit %d refused: %v", id, err)
		}
		reply := &ipcpb.Envelope{Msg: &ipcpb.Envelope_LeaseCommitted{LeaseCommitted: &ipcpb.LeaseCommitted{Id: id, Ok: ok}}}
		if err := conn.Send(reply); err != nil {
			s.log.printf("master", "lease commit %d: answer dhcpd: %v", id, err)
		}
	}()
}

// records converts and checks a commit's records: the address must be in
// a dhcp-range or be a dhcp-host address, the hardware address no longer
// than the journal holds, the host name a single legal DNS label.
func (s *leaseService) records(in []*ipcpb.LeaseRecord) ([]leases.Record, error) {
	out := make([]leases.Record, 0, len(in))
	for i, r := range in {
		addr, _ := netip.AddrFromSlice(r.GetAddr())
		if !addr.Is4() {
			return nil, fmt.Errorf("record %d: address is not IPv4", i)
		}
		if r.GetDelete() {
			out = append(out, leases.DeleteRecord(addr))
			continue
		}
		if !s.allowed(addr) {
			return nil, fmt.Errorf("record %d: %v is in no dhcp-range and no dhcp-host", i, addr)
		}
		if len(r.GetHwAddr()) > leases.MaxHWAddr || len(r.GetClientId()) > leases.MaxClientID {
			return nil, fmt.Errorf("record %d: hardware address or client-id too long", i)
		}
		if n := r.GetHostname(); n != "" && !legalLabel(n) {
			return nil, fmt.Errorf("record %d: host name %q is not a legal DNS label", i, n)
		}
		out = append(out, leases.PutRecord(leases.Lease{Addr: addr, HWType: uint8(r.GetHwType()),
			HWAddr: r.GetHwAddr(), ClientID: r.GetClientId(), Hostname: r.GetHostname(), Expires: r.GetExpires()}))
	}
	return out, nil
}

func (s *leaseService) allowed(a netip.Addr) bool {
	if s.hosts[a] {
		return true
	}
	for _, r := range s.ranges {
		if !a.Less(r.Start) && !r.End.Less(a) {
			return true
		}
	}
	return false
}

// legalLabel: letters, digits and inner hyphens, 1 to 63 bytes.
func legalLabel(n string) bool {
	if len(n) == 0 || len(n) > 63 || n[0] == '-' || n[len(n)-1] == '-' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (s *leaseService) close() {
	if err := s.store.Close(); err != nil {
		s.log.printf("master", "lease store: close: %v", err)
	}
}

// state is the DHCPState for a starting dhcpd: the interfaces it has
// sockets for, looked up now, and the store's leases.
func (s *leaseService) state(socks []openSocket) *ipcpb.DHCPState {
	st := &ipcpb.DHCPState{}
	for _, sock := range socks {
		if sock.desc.GetKind() != ipcpb.Socket_KIND_DHCP_UDP {
			continue
		}
		ifc, err := net.InterfaceByName(sock.desc.GetInterface())
		if err != nil {
			s.log.printf("master", "DHCP interface %s: %v", sock.desc.GetInterface(), err)
			continue
		}
		d := &ipcpb.DHCPInterface{Name: ifc.Name, Index: uint32(ifc.Index)}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				ones, _ := ipn.Mask.Size()
				ip, _ := netip.AddrFromSlice(ipn.IP.To4())
				d.Prefixes = append(d.Prefixes, netip.PrefixFrom(ip, ones).String())
			}
		}
		st.Interfaces = append(st.Interfaces, d)
	}
	for _, l := range s.store.Leases() {
		st.Leases = append(st.Leases, &ipcpb.LeaseRecord{Addr: l.Addr.AsSlice(), HwType: uint32(l.HWType),
			HwAddr: l.HWAddr, ClientId: l.ClientID, Hostname: l.Hostname, Expires: l.Expires})
	}
	return st
}

// configureDHCP is dhcpd's configuration at start: its DHCPState, then
// the DHCPConfig.
func (m *master) configureDHCP(socks []openSocket) func(*ipc.Conn) error {
	return func(conn *ipc.Conn) error {
		st := &ipcpb.Envelope{Msg: &ipcpb.Envelope_DhcpState{DhcpState: m.leases.state(socks)}}
		if err := conn.Send(st); err != nil {
			return fmt.Errorf("send dhcp state: %w", err)
		}
		return m.dhcp.send(conn)
	}
}
