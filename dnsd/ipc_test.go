package dnsd

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func TestHostsTableSwap(t *testing.T) {
	d := startDNSD(t, upstreamCfg(), "10.0.0.1 bar.lan\n", instanceOptions{})
	if r := ask(t, d, newQuery("bar.lan.", dns.TypeA), "udp"); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.0.0.1" {
		t.Fatalf("before swap: %v", r.Answer)
	}
	d.sendHosts(t, 2, "10.0.0.2 bar.lan\n10.0.0.3 new.lan\n")
	waitFor(t, "new hosts table", func() bool {
		r := ask(t, d, newQuery("bar.lan.", dns.TypeA), "udp")
		return len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == "10.0.0.2"
	})
	if r := ask(t, d, newQuery("new.lan.", dns.TypeA), "udp"); len(r.Answer) != 1 {
		t.Errorf("new name missing: %v", r)
	}
	// An empty table is a table too: every name goes.
	d.sendHosts(t, 3, "")
	waitFor(t, "empty hosts table", func() bool {
		return ask(t, d, newQuery("bar.lan.", dns.TypeA), "udp").Rcode == dns.RcodeRefused
	})
	// A new configuration swaps in too (here: local=/lan/).
	cfg := upstreamCfg()
	cfg.LocalDomains = []string{"lan"}
	cfg.Generation = 2
	d.sendConfig(t, cfg)
	waitFor(t, "new config", func() bool {
		return ask(t, d, newQuery("bar.lan.", dns.TypeA), "udp").Rcode == dns.RcodeNameError
	})
}

// serveRaw runs Serve on loopback sockets without sending anything.
func serveRaw(t *testing.T) (master *ipc.Conn, done chan error, ready chan struct{}) {
	t.Helper()
	sockets := loopbackSockets(t)
	mf, wf, err := ipc.Pair()
	if err != nil {
		t.Fatal(err)
	}
	master = ipc.NewConn(mf)
	worker := ipc.NewConn(wf)
	done = make(chan error, 1)
	ready = make(chan struct{})
	go func() {
		done <- serveWithLog(context.Background(), worker, sockets, func() error { close(ready); return nil }, &syncBuffer{})
		worker.Close()
	}()
	t.Cleanup(func() { master.Close() })
	return master, done, ready
}

func waitDone(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func TestServeReadyNeedsConfigAndHosts(t *testing.T) {
	master, done, ready := serveRaw(t)
	if err := ipc.SendHosts(master, 1, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
		t.Fatal("ready before any DNSConfig")
	case err := <-done:
		t.Fatalf("Serve returned: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: upstreamCfg()}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Serve returned: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after config and hosts")
	}
	if err := master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{Reason: "test"}}}); err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, done); err != nil {
		t.Errorf("Shutdown: Serve returned %v, want nil", err)
	}
}

func TestServeProtocol(t *testing.T) {
	shutdown := &ipcpb.Envelope{Msg: &ipcpb.Envelope_Shutdown{Shutdown: &ipcpb.Shutdown{}}}
	tests := []struct {
		name    string
		send    []*ipcpb.Envelope
		closeIt bool // close the master end afterwards
		wantErr error
	}{
		{"shutdown", []*ipcpb.Envelope{shutdown}, false, nil},
		{"eof", nil, true, nil},
		{"hello is unexpected", []*ipcpb.Envelope{{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Version: ipc.Version, Role: "dnsd"}}}}, false, ipc.ErrUnexpected},
		{"socket set is unexpected", []*ipcpb.Envelope{{Msg: &ipcpb.Envelope_SocketSet{SocketSet: &ipcpb.SocketSet{}}}}, false, ipc.ErrUnexpected},
		{"item without begin", []*ipcpb.Envelope{{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{Generation: 1,
			Hosts: []*ipcpb.HostEntry{{Address: []byte{1, 2, 3, 4}, Names: []string{"a"}}}}}}}, false, ipc.ErrStream},
		{"end without begin", []*ipcpb.Envelope{{Msg: &ipcpb.Envelope_TableEnd{TableEnd: &ipcpb.TableEnd{Generation: 1}}}}, false, ipc.ErrStream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			master, done, _ := serveRaw(t)
			for _, m := range tt.send {
				if err := master.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			if tt.closeIt {
				master.Close()
			}
			err := waitDone(t, done)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("Serve returned %v, want nil", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("Serve returned %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	bad := []*ipcpb.DNSConfig{
		{Upstreams: []*ipcpb.Upstream{{Address: "not-an-address"}}},
		{Upstreams: []*ipcpb.Upstream{{Address: "127.0.0.1:0"}}},
		{Upstreams: []*ipcpb.Upstream{{Address: "127.0.0.1:53", Domains: []string{"a..b"}}}},
		{LocalDomains: []string{"bad name"}},
		{AllowedAddresses: []string{"300.1.1.1"}},
		{CacheSize: maxCacheSize + 1},
	}
	for i, cfg := range bad {
		master, done, _ := serveRaw(t)
		if err := master.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_DnsConfig{DnsConfig: cfg}}); err != nil {
			continue // refused by the ipc layer already
		}
		if err := waitDone(t, done); err == nil {
			t.Errorf("config %d accepted: %v", i, cfg)
		}
	}
}
