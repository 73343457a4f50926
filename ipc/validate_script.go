package ipc

import (
	"fmt"
	"strings"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// Bounds of a ScriptEvent: what a lease record and dnsmasq's script
// environment hold. The helper builds argv and environment variables
// from these strings, and exec refuses a NUL byte in either, so none is
// admitted here.
const (
	maxScriptHWAddr   = 16
	maxScriptClientID = 255
	maxScriptText     = 255 // one option's data
	maxScriptTags     = 256
	maxScriptClasses  = 64
	maxScriptOptions  = 255
)

// scriptActions are the actions a ScriptEvent may carry.
var scriptActions = map[string]bool{"add": true, "old": true, "del": true, "init": true}

func validateScriptEvent(e *ipcpb.ScriptEvent) error {
	if err := noUnknown(e); err != nil {
		return err
	}
	if !scriptActions[e.GetAction()] {
		return invalid("action %q", e.GetAction())
	}
	if e.GetAction() == "init" {
		if len(e.GetAddr()) != 0 || len(e.GetHwAddr()) != 0 || e.GetHostname() != "" {
			return invalid("init event with lease fields")
		}
		return nil
	}
	switch {
	case len(e.GetAddr()) != 4:
		return invalid("addr: %d bytes, want 4", len(e.GetAddr()))
	case e.GetHwType() > 255:
		return invalid("hw_type %d", e.GetHwType())
	case len(e.GetHwAddr()) > maxScriptHWAddr:
		return invalid("hw_addr: %d bytes, at most %d", len(e.GetHwAddr()), maxScriptHWAddr)
	case len(e.GetClientId()) > maxScriptClientID:
		return invalid("client_id: %d bytes, at most %d", len(e.GetClientId()), maxScriptClientID)
	case e.GetExpires() < 0:
		return invalid("expires %d", e.GetExpires())
	case len(e.GetRelayAddress()) != 0 && len(e.GetRelayAddress()) != 4:
		return invalid("relay_address: %d bytes, want 4 or none", len(e.GetRelayAddress()))
	case len(e.GetTags()) > maxScriptTags:
		return invalid("tags: %d, at most %d", len(e.GetTags()), maxScriptTags)
	case len(e.GetUserClasses()) > maxScriptClasses:
		return invalid("user_classes: %d, at most %d", len(e.GetUserClasses()), maxScriptClasses)
	case len(e.GetRequestedOptions()) > maxScriptOptions:
		return invalid("requested_options: %d, at most %d", len(e.GetRequestedOptions()), maxScriptOptions)
	}
	for _, name := range []struct{ field, v string }{
		{"hostname", e.GetHostname()}, {"domain", e.GetDomain()}, {"old_hostname", e.GetOldHostname()},
	} {
		if name.v == "" {
			continue
		}
		if err := validateHostName(name.v); err != nil {
			return prefix(name.field, err)
		}
		if strings.ContainsRune(name.v, 0) {
			return invalid("%s: NUL byte", name.field)
		}
	}
	if strings.Contains(e.GetHostname(), ".") || strings.Contains(e.GetOldHostname(), ".") {
		return invalid("hostname: not an unqualified name")
	}
	texts := []struct{ field, v string }{
		{"interface", e.GetInterface()}, {"supplied_hostname", e.GetSuppliedHostname()}, {"vendor_class", e.GetVendorClass()},
	}
	for i, t := range e.GetTags() {
		texts = append(texts, struct{ field, v string }{fmt.Sprintf("tags[%d]", i), t})
	}
	for i, c := range e.GetUserClasses() {
		texts = append(texts, struct{ field, v string }{fmt.Sprintf("user_classes[%d]", i), c})
	}
	for _, t := range texts {
		if len(t.v) > maxScriptText {
			return invalid("%s: %d bytes, at most %d", t.field, len(t.v), maxScriptText)
		}
		if strings.ContainsRune(t.v, 0) {
			return invalid("%s: NUL byte", t.field)
		}
	}
	if len(e.GetInterface()) > maxIfNameLen {
		return invalid("interface: %d bytes, at most %d", len(e.GetInterface()), maxIfNameLen)
	}
	for i, o := range e.GetRequestedOptions() {
		if o > 255 {
			return invalid("requested_options[%d]: %d", i, o)
		}
	}
	return validateScriptTxn(e) // validate_txn.go
}

func validateScriptDone(d *ipcpb.ScriptDone) error {
	if err := noUnknown(d); err != nil {
		return err
	}
	if d.GetExitStatus() < -1 || d.GetExitStatus() > 255 {
		return invalid("exit_status %d", d.GetExitStatus())
	}
	return maxLen("error", d.GetError(), maxTextLen)
}
