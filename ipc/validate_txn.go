package ipc

import (
	"bytes"
	"fmt"
	"strings"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Bounds of a LeaseTxn. dhcpd is untrusted and the master hands these
// bytes to the dhcp-script as environment variables: every string is
// bounded by what one DHCP option holds and holds no NUL byte (dnsmasq
// cuts a client's string at its first NUL, and exec could not pass one).
const (
	maxTxnText    = 255 // one option's data
	maxTxnTags    = 256
	maxTxnTagLen  = 255
	maxTxnClasses = 128 // option 77 splits into at most this many classes
)

// validateLeaseTxn checks the shape of a transaction's data; within its
// bounds every value is only text for the script.
func validateLeaseTxn(t *ipcpb.LeaseTxn) error {
	if err := noUnknown(t); err != nil {
		return err
	}
	switch {
	case len(t.GetAddr()) != 4:
		return invalid("addr: %d bytes, want 4", len(t.GetAddr()))
	case len(t.GetRelayAddress()) != 0 && len(t.GetRelayAddress()) != 4:
		return invalid("relay_address: %d bytes, want 4 or none", len(t.GetRelayAddress()))
	case len(t.GetInterface()) > maxIfNameLen:
		return invalid("interface: %d bytes, at most %d", len(t.GetInterface()), maxIfNameLen)
	case strings.IndexByte(t.GetInterface(), 0) >= 0:
		return invalid("interface: NUL byte")
	case len(t.GetRequestedOptions()) > maxTxnText:
		return invalid("requested_options: %d bytes, at most %d", len(t.GetRequestedOptions()), maxTxnText)
	case len(t.GetTags()) > maxTxnTags:
		return invalid("tags: %d, at most %d", len(t.GetTags()), maxTxnTags)
	case len(t.GetUserClasses()) > maxTxnClasses:
		return invalid("user_classes: %d, at most %d", len(t.GetUserClasses()), maxTxnClasses)
	}
	texts := []struct {
		field string
		v     []byte
	}{
		{"supplied_hostname", t.GetSuppliedHostname()}, {"vendor_class", t.GetVendorClass()},
		{"circuit_id", t.GetCircuitId()}, {"subscriber_id", t.GetSubscriberId()}, {"remote_id", t.GetRemoteId()},
		{"mud_url", t.GetMudUrl()}, {"cpewan_oui", t.GetCpewanOui()}, {"cpewan_serial", t.GetCpewanSerial()},
		{"cpewan_class", t.GetCpewanClass()},
	}
	for _, x := range texts {
		if err := txnText(x.field, x.v, maxTxnText); err != nil {
			return err
		}
	}
	for i, tag := range t.GetTags() {
		if len(tag) == 0 {
			return invalid("tags[%d]: empty", i)
		}
		if err := txnText(fmt.Sprintf("tags[%d]", i), tag, maxTxnTagLen); err != nil {
			return err
		}
	}
	total := 0
	for i, c := range t.GetUserClasses() {
		if err := txnText(fmt.Sprintf("user_classes[%d]", i), c, maxTxnText); err != nil {
			return err
		}
		total += len(c)
	}
	if total > maxTxnText {
		return invalid("user_classes: %d bytes together, at most %d", total, maxTxnText)
	}
	return nil
}

func txnText(field string, v []byte, limit int) error {
	if len(v) > limit {
		return invalid("%s: %d bytes, at most %d", field, len(v), limit)
	}
	if bytes.IndexByte(v, 0) >= 0 {
		return invalid("%s: NUL byte", field)
	}
	return nil
}

// validateCommitTxn: a commit's transaction names the lease one of its
// records writes.
func validateCommitTxn(c *ipcpb.LeaseCommit) error {
	t := c.GetTxn()
	if t == nil {
		return nil
	}
	if err := validateLeaseTxn(t); err != nil {
		return prefix("txn", err)
	}
	for _, r := range c.GetRecords() {
		if !r.GetDelete() && bytes.Equal(r.GetAddr(), t.GetAddr()) {
			return nil
		}
	}
	return invalid("txn: addr %v is written by no record", t.GetAddr())
}

// validateScriptTxn: an event's transaction is about the event's lease,
// and only "add" and "old" have one.
func validateScriptTxn(e *ipcpb.ScriptEvent) error {
	t := e.GetTxn()
	if t == nil {
		return nil
	}
	if a := e.GetAction(); a != "add" && a != "old" {
		return invalid("txn on a %q event", a)
	}
	if err := validateLeaseTxn(t); err != nil {
		return prefix("txn", err)
	}
	if !bytes.Equal(t.GetAddr(), e.GetAddr()) {
		return invalid("txn: addr %v, event addr %v", t.GetAddr(), e.GetAddr())
	}
	return nil
}
