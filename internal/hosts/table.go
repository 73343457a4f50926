package hosts

import (
	"net/netip"
	"strings"
	"sync"
)

// Record is one address of a name and the file it came from.
type Record struct {
	Addr   netip.Addr
	Source string
}

type nameRecords struct {
	v4, v6 []Record
}

type reverseRecord struct {
	name   string
	source string
}

// Table is an immutable name table built from entries. It is safe for
// concurrent readers; dnsd swaps whole tables instead of editing one.
type Table struct {
	names   map[string]*nameRecords
	reverse map[netip.Addr]reverseRecord
	pairs   int

	// below holds every name and all its ancestors, built on first use
	// (only local-domain negative answers need it).
	belowOnce sync.Once
	below     map[string]struct{}
}

// NewTable indexes entries. Duplicate (name, address) pairs are kept once.
// For PTR the first name seen for an address wins, as in dnsmasq. Names
// must already be canonical (see CanonicalName); Parse's are.
func NewTable(entries []Entry) *Table {
	t := &Table{
		names:   make(map[string]*nameRecords),
		reverse: make(map[netip.Addr]reverseRecord),
	}
	for _, e := range entries {
		if !e.Addr.IsValid() {
			continue
		}
		for _, name := range e.Names {
			nr := t.names[name]
			if nr == nil {
				nr = &nameRecords{}
				t.names[name] = nr
			}
			list := &nr.v4
			if e.Addr.Is6() {
				list = &nr.v6
			}
			if !containsAddr(*list, e.Addr) {
				*list = append(*list, Record{Addr: e.Addr, Source: e.Source})
				t.pairs++
			}
			if _, ok := t.reverse[e.Addr]; !ok {
				t.reverse[e.Addr] = reverseRecord{name: name, source: e.Source}
			}
		}
	}
	return t
}

func containsAddr(list []Record, a netip.Addr) bool {
	for _, r := range list {
		if r.Addr == a {
			return true
		}
	}
	return false
}

// Len is the number of distinct (name, address) pairs.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return t.pairs
}

// Lookup returns the IPv4 (v6 false) or IPv6 addresses of name, which must
// be a lookup key (see Key). The result is shared: do not modify it.
func (t *Table) Lookup(name string, v6 bool) []Record {
	if t == nil {
		return nil
	}
	nr := t.names[name]
	if nr == nil {
		return nil
	}
	if v6 {
		return nr.v6
	}
	return nr.v4
}

// Exists reports whether name has any address in the table, whatever the
// family: the "name exists with other types" test.
func (t *Table) Exists(name string) bool {
	if t == nil {
		return false
	}
	_, ok := t.names[name]
	return ok
}

// HasAtOrBelow reports whether name, or a name under it, is in the table
// ("lan" when "host.lan" is): dnsmasq answers NODATA rather than NXDOMAIN
// for such a name in a local-only domain.
func (t *Table) HasAtOrBelow(name string) bool {
	if t == nil {
		return false
	}
	if _, ok := t.names[name]; ok {
		return true
	}
	t.belowOnce.Do(func() {
		t.below = make(map[string]struct{}, len(t.names))
		for n := range t.names {
			for i := strings.IndexByte(n, '.'); i >= 0; i = strings.IndexByte(n, '.') {
				n = n[i+1:]
				if _, ok := t.below[n]; ok {
					break
				}
				t.below[n] = struct{}{}
			}
		}
	})
	_, ok := t.below[name]
	return ok
}

// Reverse returns the canonical name for addr (PTR) and its source file.
func (t *Table) Reverse(addr netip.Addr) (name, source string, ok bool) {
	if t == nil {
		return "", "", false
	}
	r, ok := t.reverse[addr]
	return r.name, r.source, ok
}

// Key turns a query name in presentation form ("Foo.Example.") into the
// table's key ("foo.example"), without allocating when it is already
// lower-case. The root name gives "".
func Key(qname string) string {
	qname = strings.TrimSuffix(qname, ".")
	for i := 0; i < len(qname); i++ {
		if c := qname[i]; 'A' <= c && c <= 'Z' {
			return asciiLower(qname)
		}
	}
	return qname
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
