package seccomp

import (
	"reflect"
	"strings"
	"testing"
)

func TestSpecRoundTrip(t *testing.T) {
	for _, s := range []Spec{
		{Role: "dnsd", Chroot: "/var/empty", SwitchUser: true, UID: 65534, GID: 65534, MaxFiles: 4096},
		{Role: "dhcpd", Chroot: "/run/moat/empty dir", UID: 1000, GID: 1000},
		{Role: "dnsd"},
		{Role: "dhcpd", MaxFiles: 1 << 40, TrapForDebug: true},
		{Role: "dnsd", UID: 65534, GID: 65534, KeepBoundingSet: true},
	} {
		got, err := ParseSpec(s.Args())
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", s.Args(), err)
			continue
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip of %+v gave %+v (args %q)", s, got, s.Args())
		}
	}
}

func TestParseSpecRejects(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--role=dnsd", "--bogus=1"}, "bogus"},
		{[]string{"--role=dnsd", "extra"}, "unexpected argument"},
		{[]string{"--role=named"}, "unknown role"},
		{[]string{}, "unknown role"},
		{[]string{"--role=dnsd", "--switch-user", "--uid=0", "--gid=65534"}, "non-root"},
		{[]string{"--role=dnsd", "--switch-user", "--uid=65534", "--gid=0"}, "non-root"},
		{[]string{"--role=dnsd", "--switch-user"}, "non-root"},
		{[]string{"--role=dnsd", "--uid=-1"}, "out of range"},
		{[]string{"--role=dnsd", "--gid=4294967295"}, "out of range"},
		{[]string{"--role=dnsd", "--uid=x"}, "invalid value"},
		{[]string{"--role=dnsd", "--max-files=-1"}, "invalid value"},
		{[]string{"--role=dnsd", "--chroot=relative/dir"}, "absolute"},
		{[]string{"--role=dnsd", "--help"}, "help"},
	} {
		_, err := ParseSpec(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSpec(%q) = %v, want an error about %q", tc.args, err, tc.want)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add("--role=dnsd\n--chroot=/var/empty\n--switch-user\n--uid=65534\n--gid=65534\n--max-files=1024")
	f.Add("--role=dhcpd")
	f.Add("-role=dnsd\n-uid=1\n--seccomp-trap")
	f.Add("--role=dnsd\n--\n--uid=1")
	f.Fuzz(func(t *testing.T, joined string) {
		s, err := ParseSpec(strings.Split(joined, "\n"))
		if err != nil {
			return
		}
		// Whatever parses must validate and survive a round trip.
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed spec %+v does not validate: %v", s, err)
		}
		again, err := ParseSpec(s.Args())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip of %+v: %+v, %v", s, again, err)
		}
	})
}
