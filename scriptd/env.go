package scriptd

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// arphrdEther is ARPHRD_ETHER: the one hardware type dnsmasq prints
// without a "type-" prefix.
const arphrdEther = 1

// Command is one run of the script: what exec gets, never a shell.
type Command struct {
	Path string   // the script, an absolute path
	Args []string // Args[0] is the script's base name, as dnsmasq's execl
	Env  []string // KEY=value
}

// errNUL: exec cannot pass a NUL byte in argv or the environment, and
// truncating a client's string silently would hand the script something
// the client did not send.
var errNUL = errors.New("NUL byte")

// BuildCommand turns one event into the script's argv and environment as
// dnsmasq 2.90's helper does for DHCPv4 (helper.c): argv is
// action, MAC, IP and the host name when there is a legal one; the
// environment is base without any DNSMASQ_* variable, plus the DNSMASQ_*
// variables the event carries. Every string reaches the script verbatim
// as one argv element or one variable's value: nothing is interpreted by
// a shell. Like dnsmasq, a value of the client's (tags, supplied host
// name, classes) ends at its first '='; a NUL byte anywhere is an error.
func BuildCommand(script string, base []string, logDHCP bool, ev *ipcpb.ScriptEvent) (Command, error) {
	if !filepath.IsAbs(script) {
		return Command{}, fmt.Errorf("dhcp-script %q is not an absolute path", script)
	}
	cmd := Command{Path: script, Env: scrubEnv(base)}
	name := filepath.Base(script)
	action := ev.GetAction()
	if action == "init" {
		// dnsmasq runs "<script> init" with its own environment only.
		cmd.Args = []string{name, "init"}
		return cmd, nil
	}
	if action != "add" && action != "old" && action != "del" {
		return Command{}, fmt.Errorf("unknown action %q", action)
	}
	addr, ok := netip.AddrFromSlice(ev.GetAddr())
	if !ok || !addr.Is4() {
		return Command{}, fmt.Errorf("address %v is not IPv4", ev.GetAddr())
	}
	cmd.Args = []string{name, action, FormatMAC(uint8(ev.GetHwType()), ev.GetHwAddr()), addr.String()}
	if h := ev.GetHostname(); legalHostname(h) {
		cmd.Args = append(cmd.Args, h)
	}

	set := func(key, value string) { cmd.Env = append(cmd.Env, key+"="+value) }
	if len(ev.GetClientId()) > 0 {
		set("DNSMASQ_CLIENT_ID", hexColons(ev.GetClientId()))
	}
	if ev.GetInterface() != "" {
		set("DNSMASQ_INTERFACE", ev.GetInterface())
	}
	set("DNSMASQ_LEASE_EXPIRES", strconv.FormatInt(ev.GetExpires(), 10))
	if d := ev.GetDomain(); d != "" && (legalHostname(ev.GetHostname()) || legalHostname(ev.GetOldHostname())) {
		set("DNSMASQ_DOMAIN", d)
	}
	if ev.GetDataMissing() {
		set("DNSMASQ_DATA_MISSING", "1")
	}
	if t := txnOf(ev); t != nil {
		txnEnv(set, t)
	}
	if action != "del" && ev.GetTimeRemaining() != 0 {
		set("DNSMASQ_TIME_REMAINING", strconv.FormatUint(uint64(ev.GetTimeRemaining()), 10))
	}
	if old := ev.GetOldHostname(); old != "" && legalHostname(old) {
		set("DNSMASQ_OLD_HOSTNAME", old)
	}
	if logDHCP {
		set("DNSMASQ_LOG_DHCP", "1")
	}
	for _, s := range append(cmd.Args[1:], cmd.Env...) {
		if strings.IndexByte(s, 0) >= 0 {
			return Command{}, fmt.Errorf("%q: %w", s, errNUL)
		}
	}
	return cmd, nil
}

// txnOf is the event's transaction data: its txn, or for an event from
// an older master the string fields that came before it (14 to 19).
func txnOf(ev *ipcpb.ScriptEvent) *ipcpb.LeaseTxn {
	if t := ev.GetTxn(); t != nil {
		return t
	}
	if len(ev.GetTags()) == 0 && ev.GetSuppliedHostname() == "" && ev.GetVendorClass() == "" &&
		len(ev.GetUserClasses()) == 0 && len(ev.GetRelayAddress()) == 0 && len(ev.GetRequestedOptions()) == 0 {
		return nil
	}
	t := &ipcpb.LeaseTxn{SuppliedHostname: []byte(ev.GetSuppliedHostname()), VendorClass: []byte(ev.GetVendorClass()),
		RelayAddress: ev.GetRelayAddress()}
	for _, tag := range ev.GetTags() {
		t.Tags = append(t.Tags, []byte(tag))
	}
	for _, c := range ev.GetUserClasses() {
		t.UserClasses = append(t.UserClasses, []byte(c))
	}
	for _, o := range ev.GetRequestedOptions() {
		t.RequestedOptions = append(t.RequestedOptions, byte(o))
	}
	return t
}

// txnEnv sets the transaction's variables as dnsmasq 2.90's helper does
// (helper.c, grab_extradata): each value is the client's bytes up to the
// first '=' (none past it: no "x=y" can pose as a second variable) and
// an empty one sets nothing; DNSMASQ_TAGS is the tags joined by spaces,
// cut the same way; DNSMASQ_REQUESTED_OPTIONS the parameter request
// list in decimal, comma-separated; DNSMASQ_USER_CLASSn numbers every
// class, an empty one included.
func txnEnv(set func(key, value string), t *ipcpb.LeaseTxn) {
	extra := func(key string, value []byte) {
		if v, _, _ := strings.Cut(string(value), "="); v != "" {
			set(key, v)
		}
	}
	extra("DNSMASQ_VENDOR_CLASS", t.GetVendorClass())
	extra("DNSMASQ_SUPPLIED_HOSTNAME", t.GetSuppliedHostname())
	extra("DNSMASQ_CPEWAN_OUI", t.GetCpewanOui())
	extra("DNSMASQ_CPEWAN_SERIAL", t.GetCpewanSerial())
	extra("DNSMASQ_CPEWAN_CLASS", t.GetCpewanClass())
	extra("DNSMASQ_CIRCUIT_ID", t.GetCircuitId())
	extra("DNSMASQ_SUBSCRIBER_ID", t.GetSubscriberId())
	extra("DNSMASQ_REMOTE_ID", t.GetRemoteId())
	if prl := t.GetRequestedOptions(); len(prl) > 0 {
		s := make([]string, len(prl))
		for i, o := range prl {
			s[i] = strconv.Itoa(int(o))
		}
		set("DNSMASQ_REQUESTED_OPTIONS", strings.Join(s, ","))
	}
	extra("DNSMASQ_MUD_URL", t.GetMudUrl())
	if tags := t.GetTags(); len(tags) > 0 {
		extra("DNSMASQ_TAGS", bytes.Join(tags, []byte{' '}))
	}
	if relay, ok := netip.AddrFromSlice(t.GetRelayAddress()); ok && relay.Is4() && !relay.IsUnspecified() {
		set("DNSMASQ_RELAY_ADDRESS", relay.String())
	}
	for i, c := range t.GetUserClasses() {
		extra("DNSMASQ_USER_CLASS"+strconv.Itoa(i), c)
	}
}

// scrubEnv drops inherited DNSMASQ_* variables (dnsmasq unsets every one
// it does not set) and anything that is not KEY=value.
func scrubEnv(base []string) []string {
	out := make([]string, 0, len(base)+16)
	for _, kv := range base {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.HasPrefix(k, "DNSMASQ_") || strings.IndexByte(kv, 0) >= 0 {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// FormatMAC prints a hardware address as dnsmasq does for the script and
// the leases file: lower-case hex bytes joined by ':', with the hardware
// type and '-' in front unless it is Ethernet ("06-01:23:45:67:89:ab"),
// and the type alone ("00-") when there is no address.
func FormatMAC(hwType uint8, hw []byte) string {
	var b strings.Builder
	if hwType != arphrdEther || len(hw) == 0 {
		fmt.Fprintf(&b, "%.2x-", hwType)
	}
	b.WriteString(hexColons(hw))
	return b.String()
}

func hexColons(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 3*len(b))
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}

// legalHostname is dnsmasq's check before a name is passed to the
// script: letters, digits, '-' and '_' (dnsmasq drops a name that fails
// it rather than pass it on).
func legalHostname(n string) bool {
	if n == "" || len(n) > 255 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
