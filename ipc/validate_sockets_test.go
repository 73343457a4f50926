package ipc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func socketsChanged(added []*ipcpb.Socket, removed ...string) *ipcpb.Envelope {
	return &ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketsChanged{SocketsChanged: &ipcpb.SocketsChanged{Added: added, Removed: removed}}}
}

func dnsUDP(addr string) *ipcpb.Socket {
	return &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_UDP, Address: addr}
}

func TestValidateSocketsChanged(t *testing.T) {
	tooMany := make([]*ipcpb.Socket, MaxFDs+1)
	for i := range tooMany {
		tooMany[i] = dnsUDP(fmt.Sprintf("10.0.0.%d:53", i+1))
	}
	tooManyRemoved := make([]string, MaxRemovedSockets+1)
	for i := range tooManyRemoved {
		tooManyRemoved[i] = "10.0.0.1:53"
	}
	tests := []struct {
		name string
		m    *ipcpb.Envelope
		want string // "" = valid
	}{
		{"add v4 and v6 with zone", socketsChanged([]*ipcpb.Socket{dnsUDP("192.0.2.1:53"), {Kind: ipcpb.Socket_KIND_DNS_TCP, Address: "[fe80::1%eth0]:53"}}), ""},
		{"remove only", socketsChanged(nil, "192.0.2.1:53", "[2001:db8::1]:5353"), ""},
		{"nothing changes", socketsChanged(nil), "neither added nor removed"},
		{"dhcp socket", socketsChanged([]*ipcpb.Socket{{Kind: ipcpb.Socket_KIND_DHCP_UDP, Address: "192.0.2.1:67"}}), "added[0]: kind KIND_DHCP_UDP is not a DNS socket"},
		{"unknown kind", socketsChanged([]*ipcpb.Socket{{Kind: 99, Address: "192.0.2.1:53"}}), "added[0]: kind: 99"},
		{"wildcard", socketsChanged([]*ipcpb.Socket{dnsUDP("0.0.0.0:53")}), `added[0]: address "0.0.0.0:53": not one bound address`},
		{"port 0", socketsChanged([]*ipcpb.Socket{dnsUDP("192.0.2.1:0")}), "not one bound address and port"},
		{"no port", socketsChanged([]*ipcpb.Socket{dnsUDP("192.0.2.1")}), `added[0]: address "192.0.2.1"`},
		{"empty address", socketsChanged([]*ipcpb.Socket{dnsUDP("")}), "added[0]: address: empty"},
		{"nil socket", socketsChanged([]*ipcpb.Socket{nil}), "added[0]: nil socket"},
		{"bad removed", socketsChanged(nil, "eth0"), `removed[0]: address "eth0"`},
		{"removed wildcard", socketsChanged(nil, "[::]:53"), "removed[0]"},
		{"too many added", socketsChanged(tooMany), "added: 33, at most 32"},
		{"too many removed", socketsChanged(nil, tooManyRemoved...), "removed: 1025, at most 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.m)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v, want valid", err)
			case tt.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want an invalid-message error containing %q", err, tt.want)
			}
		})
	}
}

// TestSocketsChangedCarriesOneFDPerAdded: the descriptor count must match
// the added sockets, at the sender and at the receiver.
func TestSocketsChangedCarriesOneFDPerAdded(t *testing.T) {
	a, b := newConnPair(t)
	_, w1 := newPipe(t)
	_, w2 := newPipe(t)
	m := socketsChanged([]*ipcpb.Socket{dnsUDP("192.0.2.1:53"), dnsUDP("192.0.2.2:53")}, "192.0.2.3:53")
	if err := a.Send(m, fdOf(t, w1)); !errors.Is(err, ErrTooManyFDs) {
		t.Errorf("Send with 1 descriptor for 2 sockets: %v, want ErrTooManyFDs", err)
	}
	if err := a.Send(socketsChanged(nil, "192.0.2.3:53"), fdOf(t, w1)); !errors.Is(err, ErrTooManyFDs) {
		t.Errorf("Send of a removal with a descriptor: %v, want ErrTooManyFDs", err)
	}
	if err := a.Send(m, fdOf(t, w1), fdOf(t, w2)); err != nil {
		t.Fatal(err)
	}
	got, fds, err := b.Recv()
	if err != nil {
		t.Fatal(err)
	}
	closeFDs(fds)
	if len(fds) != 2 || len(got.GetSocketsChanged().GetAdded()) != 2 {
		t.Errorf("received %d descriptors for %d sockets, want 2 and 2", len(fds), len(got.GetSocketsChanged().GetAdded()))
	}
}
