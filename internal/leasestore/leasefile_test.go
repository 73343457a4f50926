package leasestore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/leases"
)

// The dnsmasq 2.90 fixtures of internal/leases: dnsmasq read
// dnsmasq-in.leases and wrote dnsmasq-out.leases (at time 1500).
const (
	dnsmasqIn  = "../leases/testdata/dnsmasq-in.leases"
	dnsmasqOut = "../leases/testdata/dnsmasq-out.leases"
)

func at1500() time.Time { return time.Unix(1500, 0) }

// TestImportDnsmasqFile: a leases file written by dnsmasq is imported on
// first start and comes back out byte for byte: at Close, and again from
// the journal alone after the file is gone.
func TestImportDnsmasqFile(t *testing.T) {
	want, err := os.ReadFile(dnsmasqOut)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "leases")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	mod := func(o *Options) { o.Now = at1500 }
	s := openTest(t, dir, mod)
	if rec := s.Recovery(); rec.Source != "leasefile" || rec.Leases != 7 || len(rec.BadLines) != 0 {
		t.Fatalf("import: %+v", rec)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Stats().FileWrites == 0 {
		t.Error("the leases file was never rewritten")
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Errorf("rewritten:\n%s\ndnsmasq wrote:\n%s", got, want)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, mod)
	if rec := s.Recovery(); rec.Source != "journal" {
		t.Errorf("second start: %+v", rec)
	}
	s.Close()
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Errorf("from the journal:\n%s\ndnsmasq wrote:\n%s", got, want)
	}
}

// TestImportOddSpellings: dnsmasq's input fixture (odd spellings, one
// expired lease) imports whole; the file written leaves the expired lease
// out and spells the rest as dnsmasq does, in the order found (dnsmasq
// itself reverses its list on every restart).
func TestImportOddSpellings(t *testing.T) {
	in, err := os.ReadFile(dnsmasqIn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(dnsmasqOut)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "leases"), in, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, dir, func(o *Options) { o.Now = at1500 })
	if s.Len() != 8 {
		t.Errorf("%d leases imported, want all 8 (the expired one is Expire's)", s.Len())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	slices.Reverse(lines)
	want := strings.Join(lines, "\n") + "\n"
	if got := string(s.LeaseFileBytes()); got != want {
		t.Errorf("written:\n%s\nwant:\n%s", got, want)
	}
}

// TestLeaseFileWrites: the file is rewritten at most once per interval
// (with a one-hour interval, changes wait for Close), lists new leases
// first and keeps a renewed lease in its place, leaves expired leases
// out, keeps DHCPv6 lines, and is never touched with leasefile-ro.
func TestLeaseFileWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "leases")
	v6 := "duid 00:01:00:01:2a:bb:cc:dd:00:11:22:33:44:55\n1700000000 1234 fd00::5 v6host 00:01\n"
	if err := os.WriteFile(path, []byte(v6), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, dir, func(o *Options) { o.FileInterval = time.Hour; o.Now = at1500 })
	// Open's own rewrite comes first; wait for it (bounded).
	for i := 0; s.Stats().FileWrites == 0 && i < 10000; i++ {
		time.Sleep(time.Millisecond)
	}
	if s.Stats().FileWrites != 1 {
		t.Fatalf("%d writes at Open", s.Stats().FileWrites)
	}
	a, b, c, old := testLease(1, far), testLease(2, far), testLease(3, 0), testLease(4, 1000)
	commit(t, s, puts(a, b)...)
	commit(t, s, puts(c, old)...)
	commit(t, s, puts(withExpiry(a, far+1))...) // renewed: keeps its place
	if n := s.Stats().FileWrites; n != 1 {
		t.Errorf("%d writes within the interval", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().FileWrites; n != 2 {
		t.Errorf("%d writes after Close, want 2", n)
	}
	var want []byte
	for _, l := range []leases.Lease{c, b, withExpiry(a, far+1)} {
		want = leases.AppendFileLine(want, l)
	}
	want = append(want, v6...)
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Errorf("leases file:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}

	// leasefile-ro: the journal is kept, the file neither read nor written.
	roDir := t.TempDir()
	ro := openTest(t, roDir, func(o *Options) { o.LeaseFileRO = true })
	commit(t, ro, puts(a)...)
	ro.Close()
	if _, err := os.Stat(filepath.Join(roDir, "leases")); !os.IsNotExist(err) {
		t.Errorf("leasefile-ro wrote the file: %v", err)
	}
	if ro.Stats().FileWrites != 0 {
		t.Errorf("leasefile-ro: %d writes", ro.Stats().FileWrites)
	}
	sameLeases(t, "leasefile-ro journal", openTest(t, roDir, func(o *Options) { o.LeaseFileRO = true }).Leases(), []leases.Lease{a})
}

// TestLeaseFileRewriteFails: a leases file that cannot be written is
// counted and logged; commits go on.
func TestLeaseFileRewriteFails(t *testing.T) {
	dir := t.TempDir()
	// A directory where the temporary file goes makes the rewrite fail.
	if err := os.Mkdir(filepath.Join(dir, "leases.tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "leases.tmp", "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(testOptions(t, dir, nil))
	if err == nil {
		t.Fatal("Open removed a non-empty directory in the temporary file's place")
	}
	if err := os.Remove(filepath.Join(dir, "leases.tmp", "x")); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, dir, func(o *Options) { o.FileInterval = time.Millisecond })
	// The store may be rewriting the leases file through leases.tmp right
	// now; wait (bounded) until the name is free to take it.
	for try := 0; ; try++ {
		err := os.Mkdir(filepath.Join(dir, "leases.tmp"), 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || try == 1000 {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	commit(t, s, puts(testLease(1, far))...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Stats().FileErrors == 0 {
		t.Error("failed rewrites not counted")
	}
}
