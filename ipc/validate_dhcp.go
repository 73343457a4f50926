package ipc

import (
	"fmt"
	"net/netip"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Bounds of a DHCPConfig. The message size cap bounds the texts together
// already; these say what one part may be on its own.
const (
	maxDHCPHostsFiles = 1024
	maxDHCPTextLen    = MaxMessageSize // one text: never more than the message holds
)

// validateDHCPConfig checks the shape of a DHCPConfig; what the texts
// mean is dhcpd's parser's business (config.ParseText, ReadDHCPHosts),
// which treats them as untrusted.
func validateDHCPConfig(c *ipcpb.DHCPConfig) error {
	if err := noUnknown(c); err != nil {
		return err
	}
	if err := nonEmpty("options", c.GetOptions(), maxDHCPTextLen); err != nil {
		return err
	}
	files := c.GetHostsFiles()
	if len(files) > maxDHCPHostsFiles {
		return invalid("hosts_files: %d, at most %d", len(files), maxDHCPHostsFiles)
	}
	for i, f := range files {
		if err := validateNamedText(f); err != nil {
			return fmt.Errorf("hosts_files[%d]: %w", i, err)
		}
	}
	if e := c.GetEthers(); e != nil {
		return prefix("ethers", validateNamedText(e))
	}
	return nil
}

func validateNamedText(t *ipcpb.NamedText) error {
	if err := noUnknown(t); err != nil {
		return err
	}
	if err := nonEmpty("name", t.GetName(), maxTextLen); err != nil {
		return err
	}
	return maxLen("text", t.GetText(), maxDHCPTextLen)
}

// Bounds of a LeaseCommit's records, as internal/leases journals them.
const (
	maxLeaseRecords  = 4096
	maxLeaseHWAddr   = 16
	maxLeaseClientID = 255
	maxLeaseHostname = 255
)

// validateLeaseCommit checks the shape of a LeaseCommit: every address
// IPv4, lengths within what the journal holds, host names well formed.
// Whether the master accepts the lease (address in a range) is the
// master's decision.
func validateLeaseCommit(c *ipcpb.LeaseCommit) error {
	if err := noUnknown(c); err != nil {
		return err
	}
	recs := c.GetRecords()
	if len(recs) == 0 || len(recs) > maxLeaseRecords {
		return invalid("records: %d, want 1 to %d", len(recs), maxLeaseRecords)
	}
	for i, r := range recs {
		if err := validateLeaseRecord(r); err != nil {
			return fmt.Errorf("records[%d]: %w", i, err)
		}
	}
	return validateCommitTxn(c) // validate_txn.go
}

func validateLeaseRecord(r *ipcpb.LeaseRecord) error {
	if err := noUnknown(r); err != nil {
		return err
	}
	switch {
	case len(r.GetAddr()) != 4:
		return invalid("addr: %d bytes, want 4", len(r.GetAddr()))
	case r.GetHwType() > 255:
		return invalid("hw_type %d", r.GetHwType())
	case len(r.GetHwAddr()) > maxLeaseHWAddr:
		return invalid("hw_addr: %d bytes, at most %d", len(r.GetHwAddr()), maxLeaseHWAddr)
	case len(r.GetClientId()) > maxLeaseClientID:
		return invalid("client_id: %d bytes, at most %d", len(r.GetClientId()), maxLeaseClientID)
	case len(r.GetHostname()) > maxLeaseHostname:
		return invalid("hostname: %d bytes, at most %d", len(r.GetHostname()), maxLeaseHostname)
	case r.GetExpires() < 0:
		return invalid("expires %d", r.GetExpires())
	case r.GetDelete() && (len(r.GetHwAddr()) > 0 || len(r.GetClientId()) > 0 || r.GetHostname() != ""):
		return invalid("delete record with lease fields")
	}
	if r.GetHostname() != "" {
		return prefix("hostname", validateHostName(r.GetHostname()))
	}
	return nil
}

const maxDHCPInterfaces = 256

// validateDHCPState checks interface names, indexes and prefixes, and
// every lease record.
func validateDHCPState(st *ipcpb.DHCPState) error {
	if err := noUnknown(st); err != nil {
		return err
	}
	if n := len(st.GetInterfaces()); n > maxDHCPInterfaces {
		return invalid("interfaces: %d, at most %d", n, maxDHCPInterfaces)
	}
	for i, ifc := range st.GetInterfaces() {
		if err := noUnknown(ifc); err != nil {
			return err
		}
		if err := nonEmpty(fmt.Sprintf("interfaces[%d].name", i), ifc.GetName(), maxIfNameLen); err != nil {
			return err
		}
		if ifc.GetIndex() == 0 || len(ifc.GetPrefixes()) > maxDHCPInterfaces {
			return invalid("interfaces[%d]: index %d, %d prefixes", i, ifc.GetIndex(), len(ifc.GetPrefixes()))
		}
		for _, p := range ifc.GetPrefixes() {
			if pf, err := netip.ParsePrefix(p); err != nil || !pf.Addr().Is4() {
				return invalid("interfaces[%d]: prefix %q is not IPv4", i, p)
			}
		}
	}
	for i, r := range st.GetLeases() {
		if err := validateLeaseRecord(r); err != nil {
			return fmt.Errorf("leases[%d]: %w", i, err)
		}
		if r.GetDelete() {
			return invalid("leases[%d]: a delete record", i)
		}
	}
	return nil
}
