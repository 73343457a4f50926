package seccomp

import "golang.org/x/sys/unix"

// dhcpdPledge is the DHCP worker's allow-list. It makes no sockets at
// all: UDP :67, the AF_PACKET send sockets and the raw ICMP socket for ping
// checks all come from the master, so socket(2) is not on the list.
const dhcpdPledge = "runtime stdio nofiles recvfd sockio dhcpopts"

// promiseDHCPSockopts: the few options dhcpd may set on sockets it was
// given: control messages for the receiving interface (IP_PKTINFO), a
// classic BPF filter and the ICMP type filter on the ping socket, buffer
// sizes and broadcast.
var promiseDHCPSockopts = Promise{
	Name: "dhcpopts",
	Why:  "socket options on inherited DHCP, packet and ICMP sockets",
	Rules: sockopts("setsockopt",
		sockLevel{"SOL_SOCKET", unix.SOL_SOCKET, []named{
			{"SO_BROADCAST", unix.SO_BROADCAST},
			{"SO_RCVBUF", unix.SO_RCVBUF}, {"SO_SNDBUF", unix.SO_SNDBUF},
			{"SO_ATTACH_FILTER", unix.SO_ATTACH_FILTER},
		}},
		sockLevel{"IPPROTO_IP", unix.IPPROTO_IP, []named{
			{"IP_PKTINFO", unix.IP_PKTINFO},
		}},
		sockLevel{"SOL_RAW", unix.SOL_RAW, []named{
			{"ICMP_FILTER", unix.ICMP_FILTER},
		}},
	),
}
