package seccomp

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// dnsdPledge is the DNS worker's allow-list. Besides the common promises
// it makes its own upstream sockets (UDP and TCP over IPv4/IPv6 only),
// accepts on the TCP listeners the master gave it, attaches the socket
// filter the master loaded, and updates that filter's maps.
const dnsdPledge = "runtime stdio nofiles recvfd sockio inet dnsopts bpfmap"

// sockTypeFlags are the flags Go (and anyone) may or into socket(2)'s type.
const sockTypeFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

var promiseDNSInet = Promise{
	Name: "inet",
	Why:  "fresh UDP/TCP client sockets to upstream servers; accept on inherited listeners",
	Rules: []Rule{
		// Multipath TCP is refused gently: Go falls back to plain TCP when
		// socket(..., IPPROTO_MPTCP) fails.
		fail("socket", syscall.EPROTONOSUPPORT,
			argIn(0, "AF_INET, AF_INET6", unix.AF_INET, unix.AF_INET6),
			argIn(2, "IPPROTO_MPTCP", unix.IPPROTO_MPTCP)),
		// Go's net package names the zone of a link-local IPv6 address
		// (an inherited socket bound to fe80::1%eth0 with bind-interfaces
		// or bind-dynamic, a client's fe80:: source) from the interface
		// table, which it reads over rtnetlink. That read must fail, not
		// kill: Go then writes the zone as the interface index. Every
		// other netlink protocol still kills.
		fail("socket", syscall.EAFNOSUPPORT,
			argIn(0, "AF_NETLINK", unix.AF_NETLINK),
			argIn(2, "NETLINK_ROUTE", unix.NETLINK_ROUTE)),
		allow("socket",
			argIn(0, "AF_INET, AF_INET6", unix.AF_INET, unix.AF_INET6),
			argMaskedIn(1, ^uint64(sockTypeFlags), "SOCK_DGRAM, SOCK_STREAM (| SOCK_NONBLOCK | SOCK_CLOEXEC)",
				unix.SOCK_DGRAM, unix.SOCK_STREAM),
			argIn(2, "0, IPPROTO_TCP, IPPROTO_UDP", 0, unix.IPPROTO_TCP, unix.IPPROTO_UDP)),
		allow("connect"),
		allow("bind"),
		// Listening sockets come from the master; listen(2) is not allowed.
		allow("accept4"),
	},
}

// promiseDNSSockopts lists the options Go's net package sets on the sockets
// dnsd makes or inherits (IPV6_V6ONLY, SO_BROADCAST on UDP; TCP_NODELAY and
// keep-alives on TCP), the control-message options for replying from the
// address that was asked (IP_PKTINFO, IPV6_RECVPKTINFO), path-MTU control
// against fragmentation attacks, buffer sizes, the upstream reply filter
// (SO_ATTACH_BPF, or SO_ATTACH_FILTER for classic BPF), and
// SO_BINDTODEVICE for server=ip@interface: queries to such a server leave
// through that interface. Without CAP_NET_RAW the kernel only lets a
// socket not yet bound to a device be bound (Linux 5.7+), so dnsd can pin
// its own fresh upstream sockets and cannot move the listening sockets it
// inherited.
var promiseDNSSockopts = Promise{
	Name: "dnsopts",
	Why:  "socket options for upstream sockets and reply-address control messages",
	Rules: sockopts("setsockopt",
		sockLevel{"SOL_SOCKET", unix.SOL_SOCKET, []named{
			{"SO_BROADCAST", unix.SO_BROADCAST}, {"SO_KEEPALIVE", unix.SO_KEEPALIVE},
			{"SO_LINGER", unix.SO_LINGER},
			{"SO_RCVBUF", unix.SO_RCVBUF}, {"SO_SNDBUF", unix.SO_SNDBUF},
			{"SO_ATTACH_FILTER", unix.SO_ATTACH_FILTER}, {"SO_ATTACH_BPF", unix.SO_ATTACH_BPF},
			{"SO_DETACH_FILTER", unix.SO_DETACH_FILTER},
			{"SO_BINDTODEVICE", unix.SO_BINDTODEVICE},
		}},
		sockLevel{"IPPROTO_IP", unix.IPPROTO_IP, []named{
			{"IP_PKTINFO", unix.IP_PKTINFO}, {"IP_MTU_DISCOVER", unix.IP_MTU_DISCOVER},
		}},
		sockLevel{"IPPROTO_IPV6", unix.IPPROTO_IPV6, []named{
			{"IPV6_V6ONLY", unix.IPV6_V6ONLY}, {"IPV6_RECVPKTINFO", unix.IPV6_RECVPKTINFO},
			{"IPV6_MTU_DISCOVER", unix.IPV6_MTU_DISCOVER},
		}},
		sockLevel{"IPPROTO_TCP", unix.IPPROTO_TCP, []named{
			{"TCP_NODELAY", unix.TCP_NODELAY}, {"TCP_KEEPIDLE", unix.TCP_KEEPIDLE},
			{"TCP_KEEPINTVL", unix.TCP_KEEPINTVL}, {"TCP_KEEPCNT", unix.TCP_KEEPCNT},
		}},
	),
}

// promiseBPFMaps lets dnsd record expected transaction IDs in the expect
// map of the socket filter the master loaded (map access through a
// descriptor needs no privilege): update and delete only, no lookup, no
// object information, no loading of programs or creating of maps. The map
// descriptor is inside the attribute block bpf(2) points to, which a
// seccomp filter cannot read; dnsd can name no other map all the same,
// since it cannot get a descriptor for one (BPF_MAP_GET_FD_BY_ID and
// BPF_OBJ_GET are refused here, and it opens no files).
var promiseBPFMaps = Promise{
	Name: "bpfmap",
	Why:  "update/delete in the eBPF expect map received from the master",
	Rules: []Rule{
		allow("bpf", argIn(0, "BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM",
			unix.BPF_MAP_UPDATE_ELEM, unix.BPF_MAP_DELETE_ELEM)),
	},
}
