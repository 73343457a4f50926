// Package leases owns the DHCPv4 lease model and everything about leases
// that involves no I/O of its own: the dnsmasq leases file format (read and
// written byte for byte as dnsmasq does), the append-only lease journal's
// record encoding with replay and compaction, the in-memory lease table,
// dnsmasq's tag logic, and the pure parts of dnsmasq's address allocator
// (which address a client gets, and which dhcp-host applies to it). Readers
// and writers work on io.Reader and io.Writer: the master owns the files.
package leases

import (
	"bytes"
	"net/netip"
	"time"
)

// ARP hardware types used here.
const (
	HWEthernet   = 1  // ARPHRD_ETHER
	HWInfiniband = 32 // ARPHRD_INFINIBAND
)

// Limits of the lease fields.
const (
	MaxHWAddr   = 16  // the chaddr field
	MaxClientID = 255 // an option's data
	MaxHostname = 255
)

// Lease is one DHCPv4 lease.
type Lease struct {
	Addr     netip.Addr // IPv4
	HWType   uint8      // ARP hardware type; 0 when there is no hardware address
	HWAddr   []byte     // at most MaxHWAddr bytes; empty for none
	ClientID []byte     // option 61 as the client sent it; nil for none
	Hostname string     // unqualified host name; "" for none
	// Expires is the end of the lease in seconds since the Unix epoch; 0
	// means never (dnsmasq's "infinite").
	Expires int64
}

// Infinite reports whether the lease never expires.
func (l Lease) Infinite() bool { return l.Expires == 0 }

// Expired reports whether the lease is over at now: dnsmasq keeps a lease
// through the second it expires.
func (l Lease) Expired(now time.Time) bool {
	return l.Expires != 0 && now.Unix() > l.Expires
}

// ExpiresAt converts a lease length from now into Expires: 0 for
// infinite (0xffffffff seconds), as dnsmasq's lease_set_expires.
func ExpiresAt(now time.Time, seconds uint32) int64 {
	if seconds == 0xffffffff {
		return 0
	}
	return now.Unix() + int64(seconds)
}

// Equal reports whether two leases hold the same data (an empty
// client-id is the same as none).
func (l Lease) Equal(o Lease) bool {
	return l.Addr == o.Addr && l.HWType == o.HWType && bytes.Equal(l.HWAddr, o.HWAddr) &&
		bytes.Equal(l.ClientID, o.ClientID) && l.Hostname == o.Hostname && l.Expires == o.Expires
}

// Clone returns a copy that shares no memory with l.
func (l Lease) Clone() Lease {
	l.HWAddr = bytes.Clone(l.HWAddr)
	if l.ClientID != nil {
		l.ClientID = append([]byte{}, l.ClientID...)
	}
	return l
}

// Client is the identity a DHCP request carries.
type Client struct {
	HWType uint8  // htype
	HWAddr []byte // chaddr, hlen bytes
	// ClientID is option 61; nil when the client sent none, or when it is
	// to be ignored (dhcp-ignore-clid, or an id:* dhcp-host).
	ClientID []byte
	Hostname string // option 12, for dhcp-host matching by name; "" none
}

// Owns reports whether a lease belongs to c, by dnsmasq's rule
// (lease_find_by_client): the same client identifier; or, when either
// side has none, the same hardware address. So a boot loader without a
// client-id and the OS with one, on the same MAC, share a lease.
func (c Client) Owns(l Lease) bool {
	if c.ClientID != nil && l.ClientID != nil {
		return bytes.Equal(c.ClientID, l.ClientID)
	}
	return len(c.HWAddr) != 0 && l.HWType == c.HWType && bytes.Equal(l.HWAddr, c.HWAddr)
}

// HashKey is what dnsmasq hashes to place a client in a range
// (extended_hwaddr): the hardware address, or, for a client with none
// (InfiniBand, for one) and a client-id longer than 3 bytes, the client-id
// without its leading type byte when that byte is the hardware type.
func (c Client) HashKey() []byte {
	if len(c.HWAddr) == 0 && len(c.ClientID) > 3 {
		if c.ClientID[0] == c.HWType {
			return c.ClientID[1:]
		}
		return c.ClientID
	}
	return c.HWAddr
}

// Hash is dnsmasq's SDBM hash of a HashKey; 0 is never returned (dnsmasq
// uses 0 as a marker).
func Hash(key []byte) uint32 {
	var j uint32
	for _, b := range key {
		j = uint32(b) + (j << 6) + (j << 16) - j
	}
	if j == 0 {
		j = 1
	}
	return j
}
