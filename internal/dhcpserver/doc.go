// Package dhcpserver owns the DHCPv4 protocol engine of moat's dhcpd: what
// to answer to each client message, with dnsmasq 2.90's semantics for its
// configuration (ranges, dhcp-host, tags, options, boot data, lease times,
// authoritative mode, rapid commit and the rest). It is pure: no sockets,
// no files, no goroutines, no clock of its own. The dhcpd worker decodes a
// packet, calls Engine.Handle and carries out what comes back:
//
//   - Outbound packets, each with how it must leave (RFC 2131 section 4.1:
//     to the relay, to the client's address, broadcast, or by AF_PACKET to
//     a client that has no address yet);
//   - Actions: Commit (the master journals and fsyncs the lease records;
//     an ACK that depends on them is held until Engine.Committed says they
//     are on disk) and Probe (ping an address before offering it, then
//     Engine.ProbeResult; one client's probe never holds up another's).
//
// The engine keeps the worker's copy of the lease table, the offers it
// made and the addresses found in use. An Engine is not safe for
// concurrent use: the worker calls it from one goroutine.
//
// What it does follows dnsmasq 2.90 (rfc2131.c and dhcp.c), checked byte
// for byte against recorded dnsmasq exchanges (testdata/goldengen). Where
// it deliberately differs, the comment at the spot says so.
package dhcpserver
