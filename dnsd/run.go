// Package dnsd is the DNS worker: confined and unprivileged, it answers DNS
// on sockets the master opened, from hosts data and a cache the master's
// messages fill, and forwards the rest upstream over fresh sockets. It opens
// no files and never uses Go's resolver.
//
// Pipeline per query (DESIGN.md section 3): parse; opcode; hosts names;
// local=/dom/ domains; cache; forward to the most specific server=. Every
// reply is rebuilt from parsed data with the client's ID and question.
package dnsd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/moatdns/moat/internal/hosts"
	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Run is the worker's main: confine, receive sockets, serve. It returns the
// process exit code: 0 after Shutdown or the master closing the channel, 1
// on any error (the master restarts the worker).
func Run(args []string) int {
	w, err := workerproc.Start("dnsd", args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dnsd: %v\n", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	w.Sockets = takeSocketFilters(w.Sockets) // issue 5: the eBPF descriptors (upstream_filter.go)
	err = Serve(ctx, w.Conn, w.Sockets, w.Ready)
	for _, s := range w.Sockets {
		s.File.Close()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dnsd: %v\n", err)
		return 1
	}
	return 0
}

// testHookServer, when set by tests, sees the server Serve built.
var testHookServer func(*Server)

// Serve reads the master's messages on conn. Once it has the first
// DNSConfig and a complete TABLE_HOSTS stream it starts answering on every
// socket and calls ready. Later configurations and tables are swapped in
// whole. It returns nil after Shutdown, end-of-file on conn or ctx ending,
// and an error for anything the protocol does not allow here.
func Serve(ctx context.Context, conn *ipc.Conn, sockets []workerproc.Socket, ready func() error) error {
	return serveWithLog(ctx, conn, sockets, ready, os.Stderr)
}

func serveWithLog(ctx context.Context, conn *ipc.Conn, sockets []workerproc.Socket, ready func() error, logw io.Writer) error {
	s := newServer(logw)
	defer s.stop()
	if testHookServer != nil {
		testHookServer(s)
	}
	// Recv blocks; a past deadline wakes it when ctx ends.
	stopWake := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stopWake()

	var (
		cfg       *runConfig
		table     *hosts.Table
		haveHosts bool
		started   bool
		asm       ipc.TableAssembler
	)
	for {
		env, fds, err := conn.Recv()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("ipc: %w", err)
		}
		if handled, err := s.receiveSocketsChanged(env, fds); handled { // area H: bind-dynamic (sockets_dynamic.go)
			if err != nil {
				return err
			}
			continue
		}
		if len(fds) > 0 {
			for _, fd := range fds {
				_ = syscall.Close(fd)
			}
			return fmt.Errorf("ipc: %s came with %d descriptors: %w", ipc.MessageName(env), len(fds), ipc.ErrUnexpected)
		}
		changed := false
		switch m := env.GetMsg().(type) {
		case *ipcpb.Envelope_DnsConfig:
			c, err := newRunConfig(m.DnsConfig)
			if err != nil {
				return err
			}
			setUpstreamFilterMode(m.DnsConfig.GetSocketFilter()) // issue 5 (upstream_filter.go)
			// issue 5: no-0x20-encode (forward_case.go)
			s.up.cases.setEncode(!m.DnsConfig.GetNoCaseRandomization())
			if c, err = s.withUpstreams(c, nil, false); err != nil { // area C (upstream_install.go)
				return err
			}
			cfg, changed = c, true
		case *ipcpb.Envelope_TableBegin, *ipcpb.Envelope_TableItem, *ipcpb.Envelope_TableEnd:
			done, kind, entries, err := asm.Add(env)
			if err != nil && !errors.Is(err, ipc.ErrAbandoned) {
				return fmt.Errorf("ipc: %w", err)
			}
			if !done {
				continue
			}
			if handled, err := s.receiveLocalTable(kind, asm.Items()); handled { // area A (local_install.go)
				if err != nil {
					return err
				}
				continue
			}
			if kind == ipcpb.Table_TABLE_UPSTREAMS { // area C (upstream_install.go)
				c, err := s.withUpstreams(cfg, ipc.UpstreamsOf(asm.Items()), true)
				if err != nil {
					return err
				}
				cfg, changed = c, c != nil
				break
			}
			if kind != ipcpb.Table_TABLE_HOSTS {
				return fmt.Errorf("ipc: table %s is not for dnsd: %w", kind, ipc.ErrUnexpected)
			}
			t, err := tableFromIPC(entries)
			if err != nil {
				return err
			}
			table, haveHosts, changed = t, true, true
		case *ipcpb.Envelope_Shutdown:
			return nil
		case *ipcpb.Envelope_StatsRequest, *ipcpb.Envelope_NetState, // area D (stats.go)
			*ipcpb.Envelope_CacheDumpRequest, *ipcpb.Envelope_MetricsRequest: // issue 6 (stats_metrics.go)
			if err := s.handleStatsMessage(conn, env); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("ipc: %s: %w", ipc.MessageName(env), ipc.ErrUnexpected)
		}
		if !changed || cfg == nil || !haveHosts {
			continue
		}
		s.install(cfg, table)
		if started {
			continue
		}
		if err := s.startAll(sockets); err != nil { // area H: with sockets added before now (sockets_dynamic.go)
			return fmt.Errorf("serve: %w", err)
		}
		started = true
		if err := ready(); err != nil {
			return fmt.Errorf("ready: %w", err)
		}
	}
}

// tableFromIPC turns streamed host entries into a table, checking every
// address and name again (the master's word is checked, not trusted).
func tableFromIPC(entries []*ipcpb.HostEntry) (*hosts.Table, error) {
	out := make([]hosts.Entry, 0, len(entries))
	for i, e := range entries {
		addr, ok := addrFromBytes(e.GetAddress())
		if !ok {
			return nil, fmt.Errorf("hosts[%d]: address of %d bytes: %w", i, len(e.GetAddress()), ipc.ErrInvalid)
		}
		names := make([]string, 0, len(e.GetNames()))
		for _, n := range e.GetNames() {
			c, ok := hosts.CanonicalName(n)
			if !ok {
				return nil, fmt.Errorf("hosts[%d]: name %q: %w", i, n, ipc.ErrInvalid)
			}
			names = append(names, c)
		}
		out = append(out, hosts.Entry{Addr: addr, Names: names, Source: e.GetSource()})
	}
	return hosts.NewTable(out), nil
}
