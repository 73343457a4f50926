package masterd

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moatdns/moat/internal/leases"
	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// The answers of moatctl status, leases, cache and dump: plain text for
// an operator, in aligned columns.

// newTable starts an aligned table on w (flush it when done).
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

// writeStatus: the master, its hardening mode, and one line per role.
func (m *master) writeStatus(w io.Writer, now time.Time) {
	started := m.stats.started
	fmt.Fprintf(w, "moatd %s, pid %d, up %s\n", Version, os.Getpid(), roundUptime(now.Sub(started)))
	// The mode and layers the master decided at start (hardening.go).
	if h := m.sandbox.hardening; h.Mode != "" {
		var missing []string
		for _, l := range h.Missing() {
			missing = append(missing, l.Name)
		}
		fmt.Fprintf(w, "hardening: mode %s, applied %s; missing %s\n", h.Mode, listOrNone(h.Applied()), listOrNone(missing))
		if l, ok := h.Layer(LayerUIDSwitch); ok { // who each worker runs as: dns-user, dhcp-user (hardening_users.go)
			fmt.Fprintf(w, "users: %s\n", l.Detail)
		}
	}
	t := newTable(w)
	fmt.Fprintln(t, "ROLE\tPID\tSTATE\tUP\tRESTARTS\tUID\tSECCOMP\tNO_NEW_PRIVS\tCAPS\tCHROOT\tNAMESPACES")
	for _, s := range m.sups {
		s.mu.Lock()
		running, restarts := s.current != nil, s.restarts
		s.mu.Unlock()
		info, seen := m.workerInfo(s.role)
		if !running || !seen {
			fmt.Fprintf(t, "%s\t-\tstarting\t-\t%d\t-\t-\t-\t-\t-\t-\n", s.role, restarts)
			continue
		}
		sb := info.sandbox
		fmt.Fprintf(t, "%s\t%d\tready\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", s.role, info.pid, roundUptime(now.Sub(info.since)), restarts,
			sb.GetUid(), seccompText(sb), yesNo(sb.GetNoNewPrivs()), capsText(sb), yesNo(sb.GetChrooted()), namespacesText(m.sandbox.sysProcAttr(s.role).Cloneflags))
	}
	_ = t.Flush()
	for _, s := range m.sups {
		if info, ok := m.workerInfo(s.role); ok {
			for _, n := range info.sandbox.GetNotes() {
				fmt.Fprintf(w, "%s: %s\n", s.role, n)
			}
		}
	}
	if len(m.sups) == 0 {
		fmt.Fprintln(w, "no workers (DNS and DHCP are both disabled)")
	}
}

func roundUptime(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// seccompText is the seccomp mode as /proc/self/status names it.
func seccompText(sb *ipcpb.SandboxStatus) string {
	switch sb.GetSeccompMode() {
	case 2:
		if n := sb.GetSyscallsAllowed(); n > 0 {
			return "filter(" + strconv.Itoa(int(n)) + ")"
		}
		return "filter"
	case 1:
		return "strict"
	}
	return "off"
}

// capsText is "none" for empty capability sets, else the sets that are
// not empty.
func capsText(sb *ipcpb.SandboxStatus) string {
	var held []string
	for _, c := range []struct {
		name string
		set  uint64
	}{{"eff", sb.GetCapEff()}, {"prm", sb.GetCapPrm()}, {"bnd", sb.GetCapBnd()}, {"amb", sb.GetCapAmb()}, {"inh", sb.GetCapInh()}} {
		if c.set != 0 {
			held = append(held, fmt.Sprintf("%s=%#x", c.name, c.set))
		}
	}
	if len(held) == 0 {
		return "none"
	}
	return strings.Join(held, ",")
}

// namespacesText names the namespaces a worker is started in.
func namespacesText(flags uintptr) string {
	var names []string
	for _, n := range cloneFlagNames { // printpolicy.go
		if flags&n.flag != 0 {
			names = append(names, n.short)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// writeLeases: the lease table, the fields of dnsmasq's leases file
// (expiry, MAC, IP, host name, client-id) in aligned columns, with the
// expiry also in local time.
func (m *master) writeLeases(w io.Writer, now time.Time) error {
	if m.leases == nil {
		return fmt.Errorf("DHCP is disabled in this configuration")
	}
	all := m.leases.store.Leases()
	t := newTable(w)
	fmt.Fprintln(t, "EXPIRES\tLEFT\tMAC\tIP\tHOSTNAME\tCLIENT-ID")
	for _, l := range all {
		f := strings.Fields(string(leases.AppendFileLine(nil, l)))
		if len(f) != 5 {
			continue
		}
		expires, left := "never", "-"
		if !l.Infinite() {
			at := time.Unix(l.Expires, 0)
			expires = at.Format("2006-01-02 15:04:05")
			left = roundUptime(at.Sub(now))
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", expires, left, f[1], f[2], f[3], f[4])
	}
	_ = t.Flush()
	fmt.Fprintf(w, "%d leases\n", len(all))
	return nil
}

// writeCacheStats: SIGUSR1's counters, in dnsmasq's words.
func (m *master) writeCacheStats(ctx context.Context, w io.Writer) error {
	r, err := m.askStatsReport(ctx)
	if err != nil {
		return err
	}
	for _, line := range formatStats(r, time.Now()) {
		fmt.Fprintln(w, line)
	}
	return nil
}

// writeCacheDump: the cache's records with their type, TTL left, data and
// dnsmasq's flag letters (stats_dump.go's dump, one snapshot).
func (m *master) writeCacheDump(ctx context.Context, w io.Writer) error {
	entries, now, truncated, err := m.askCacheDump(ctx)
	if err != nil {
		return err
	}
	t := newTable(w)
	fmt.Fprintln(t, "NAME\tTYPE\tTTL\tDATA\tFLAGS")
	for _, e := range entries {
		data := e.GetData()
		if data == "" {
			data = "-"
		}
		ttl := max(e.GetExpires()-now.Unix(), 0)
		fmt.Fprintf(t, "%s\t%s\t%d\t%s\t%s\n", e.GetName(), dumpType(e), ttl, data, strings.TrimRight(e.GetFlags(), " "))
	}
	_ = t.Flush()
	fmt.Fprintf(w, "%d records\n", len(entries))
	if truncated {
		fmt.Fprintln(w, "(incomplete: the dump stopped at its bound)")
	}
	return nil
}

// dumpType reads a record's type back from dnsmasq's flag letters: 4 A,
// 6 AAAA, C CNAME, R a PTR (listed by its target), T another type named
// in the data ("<MX>"); a negative entry without a type letter is an
// NXDOMAIN, which covers every type ("*").
func dumpType(e *ipcpb.CacheDumpEntry) string {
	f := e.GetFlags()
	if len(f) == 0 {
		return "?"
	}
	if len(f) > 2 && f[2] == 'R' {
		return "PTR"
	}
	switch f[0] {
	case '4':
		return "A"
	case '6':
		return "AAAA"
	case 'C':
		return "CNAME"
	case 'T':
		if d := e.GetData(); strings.HasPrefix(d, "<") && strings.HasSuffix(d, ">") {
			return d[1 : len(d)-1]
		}
		return "?"
	case ' ':
		return "*"
	}
	return "?"
}
