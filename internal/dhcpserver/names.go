package dhcpserver

import (
	"encoding/hex"
	"strings"

	"github.com/moatdns/moat/internal/leases"
)

// maxNameLen is dnsmasq's MAXDNAME for a client-supplied name.
const maxNameLen = 255

// FQDN option flags (RFC 4702).
const (
	fqdnS = 0x01 // the server updates the A record
	fqdnO = 0x02 // the server overrode the client's S
	fqdnE = 0x04 // canonical wire format
	fqdnN = 0x08 // no updates
)

// readClientName takes the name a client supplies, as dnsmasq does: the
// client FQDN option (81) when sent, else the host name option (12). A
// name that ends in a NUL marks a client that wants NUL-terminated strings
// back (borken, in dnsmasq's words). Only a legal host name is used.
func (r *request) readClientName() {
	if b, ok := r.opt(optClientFQDN, 3); ok {
		flags := b[0]
		if flags&fqdnS == 0 {
			flags |= fqdnS | fqdnO
		}
		r.fqdnFlags = flags &^ fqdnN
		data := b[3:]
		var name string
		if b[0]&fqdnE != 0 {
			name = decodeWireName(data)
		} else {
			if len(data) > 0 && data[len(data)-1] == 0 {
				r.borken = true
			}
			name = string(data)
			if i := strings.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
		}
		if n, ok := legalHostname(name); ok {
			r.clientName, r.offerName = n, n
		}
		return
	}
	if b, ok := r.opt(optHostname, 1); ok {
		if b[len(b)-1] == 0 {
			r.borken = true
		}
		name := string(b)
		if i := strings.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if n, ok := legalHostname(name); ok {
			r.clientName = n
		}
	}
}

// decodeWireName reads an RFC 1035 name (no compression) as a dotted
// string, stopping at the root label or at data that runs out.
func decodeWireName(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b) && b[i] != 0; {
		n := int(b[i])
		if i+1+n > len(b) {
			break
		}
		sb.Write(b[i+1 : i+1+n])
		sb.WriteByte('.')
		i += 1 + n
	}
	return strings.TrimSuffix(sb.String(), ".")
}

// legalHostname is dnsmasq's legal_hostname after check_name: no
// trailing dot, printable ASCII, labels of at most 63 bytes, and a first
// label of letters, digits, '-' and '_' (not first). Non-ASCII names,
// which dnsmasq would IDN-encode, are refused.
func legalHostname(s string) (string, bool) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > maxNameLen || strings.TrimSpace(s) == "" {
		return "", false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			label = 0
			continue
		case c < 0x20 || c >= 0x7f:
			return "", false
		}
		if label++; label > 63 {
			return "", false
		}
	}
	for i := 0; i < len(s) && s[i] != '.'; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return "", false
		}
	}
	return s, true
}

// stripHostname splits a name at its first dot: the host part and the
// domain ("" when there is none).
func stripHostname(s string) (host, domain string) {
	host, domain, _ = strings.Cut(s, ".")
	return host, domain
}

// nameMatchTags applies dhcp-name-match to the client's name: the name
// (with any domain), or with a trailing '*' any name that starts so.
func (e *Engine) nameMatchTags(r *request) {
	if r.clientName == "" {
		return
	}
	for _, m := range e.c.names {
		n := r.clientName
		if len(n) < len(m.Name) || (len(n) > len(m.Name) && !m.Wildcard) {
			continue
		}
		if strings.EqualFold(n[:len(m.Name)], m.Name) {
			e.tags.add(m.Tag)
		}
	}
}

// generatedName is dhcp-generate-names' name: the client's hardware
// address in hex with '-' between bytes (at most 80 bytes of it).
func generatedName(emac []byte) string {
	if len(emac) > 80 {
		emac = emac[:80]
	}
	var sb strings.Builder
	for i, b := range emac {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(hex.EncodeToString([]byte{b}))
	}
	return sb.String()
}

// claimName decides the host name of the lease being granted at l.Addr
// and takes it from another lease that holds it, as dnsmasq's
// lease_set_hostname does: a name from the configuration (auth) always
// wins; a client's own name does not take a name that another lease has
// from the configuration, and that client goes without one. It returns
// the name to store and the other leases to rewrite without it.
func (e *Engine) claimName(name string, auth bool, l leases.Lease) (string, []leases.Lease) {
	if name == "" {
		return "", nil
	}
	o, ok := e.store.byName(name)
	if !ok || o.Addr == l.Addr || o.Expired(e.now) {
		return name, nil
	}
	if !auth && e.configuredName(o) {
		return "", nil
	}
	o.Hostname = ""
	return name, []leases.Lease{o}
}

// configuredName reports whether a lease's name came from a dhcp-host
// (dnsmasq's LEASE_AUTH_NAME): a host entry with that name that matches
// the lease's client.
func (e *Engine) configuredName(l leases.Lease) bool {
	c := leases.Client{HWType: l.HWType, HWAddr: l.HWAddr, ClientID: l.ClientID}
	return e.c.hostIndex.MatchesNamed(l.Hostname, c, nil)
}
