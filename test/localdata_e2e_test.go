package test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// End-to-end tests of local data (area A) with dig in a namespace. The
// differential scenarios in diff_localdata_test.go compare the same
// options with dnsmasq 2.90 answer by answer.

const localDataConf = baseConf + `expand-hosts
domain=lan.test
host-record=hr.test,hr-alias.test,192.0.2.101,2001:db8::101,300
cname=cn.test,cn-mid.test
cname=cn-mid.test,hr.test
srv-host=_ldap._tcp.lan.test,hr.test,389,1,2
txt-record=txt.test,"v=spf1 a -all","with, comma"
mx-host=mail.test,hr.test,5
address=/ads.test/10.9.9.9
address=/blocked.test/
address=/null.test/#
hostsdir=%DIR%/hosts.d
`

// digAnswer runs dig and returns the status, the flags and the answer
// lines (sorted, whitespace normalised).
func digAnswer(t *testing.T, n *netns, args ...string) (status, flags string, answer []string) {
	t.Helper()
	out := n.dig(append([]string{"@127.0.0.1", "+noall", "+comments", "+answer"}, args...)...)
	if m := regexp.MustCompile(`status: (\w+)`).FindStringSubmatch(out); m != nil {
		status = m[1]
	}
	if m := regexp.MustCompile(`flags: ([a-z ]+);`).FindStringSubmatch(out); m != nil {
		flags = m[1]
	}
	for _, line := range strings.Split(out, "\n") {
		if line != "" && !strings.HasPrefix(line, ";") {
			answer = append(answer, strings.Join(strings.Fields(line), " "))
		}
	}
	sort.Strings(answer)
	return status, flags, answer
}

func TestLocalDataE2E(t *testing.T) {
	n := newNetns(t)
	startUpstream(t, n, "127.0.0.2")
	m := startMoatd(t, n, localDataConf, map[string]string{"hosts": "192.168.7.7 pc\n"})
	if err := os.MkdirAll(filepath.Join(m.dir, "hosts.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	m.waitReady(t)
	waitFor(t, 5*time.Second, "first answer", func() bool {
		return strings.TrimSpace(n.dig("@127.0.0.1", "+short", "hr.test")) == "192.0.2.101"
	})
	tests := []struct {
		args   []string
		status string
		flags  string
		answer []string
	}{
		{[]string{"hr.test", "A"}, "NOERROR", "qr aa rd ra", []string{"hr.test. 300 IN A 192.0.2.101"}},
		{[]string{"hr-alias.test", "AAAA"}, "NOERROR", "qr aa rd ra", []string{"hr-alias.test. 300 IN AAAA 2001:db8::101"}},
		{[]string{"-x", "192.0.2.101"}, "NOERROR", "qr aa rd ra", []string{"101.2.0.192.in-addr.arpa. 300 IN PTR hr.test."}},
		{[]string{"-x", "2001:db8::101"}, "NOERROR", "qr aa rd ra", []string{"1.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR hr.test."}},
		{[]string{"cn.test", "A"}, "NOERROR", "qr aa rd ra", []string{"cn-mid.test. 0 IN CNAME hr.test.", "cn.test. 0 IN CNAME cn-mid.test.", "hr.test. 300 IN A 192.0.2.101"}},
		{[]string{"_ldap._tcp.lan.test", "SRV"}, "NOERROR", "qr aa rd ra", []string{"_ldap._tcp.lan.test. 0 IN SRV 1 2 389 hr.test."}},
		{[]string{"txt.test", "TXT"}, "NOERROR", "qr aa rd ra", []string{`txt.test. 0 IN TXT "v=spf1 a -all" "with, comma"`}},
		{[]string{"mail.test", "MX"}, "NOERROR", "qr aa rd ra", []string{"mail.test. 0 IN MX 5 hr.test."}},
		{[]string{"www.ads.test", "A"}, "NOERROR", "qr aa rd ra", []string{"www.ads.test. 0 IN A 10.9.9.9"}},
		{[]string{"blocked.test", "A"}, "NXDOMAIN", "qr rd ra", nil},
		{[]string{"x.blocked.test", "MX"}, "NXDOMAIN", "qr rd ra", nil},
		{[]string{"null.test", "AAAA"}, "NOERROR", "qr aa rd ra", []string{"null.test. 0 IN AAAA ::"}},
		{[]string{"pc.lan.test", "A"}, "NOERROR", "qr aa rd ra", []string{"pc.lan.test. 0 IN A 192.168.7.7"}},
		{[]string{"-x", "192.168.7.7"}, "NOERROR", "qr aa rd ra", []string{"7.7.168.192.in-addr.arpa. 0 IN PTR pc.lan.test."}},
		{[]string{"+tcp", "hr.test", "A"}, "NOERROR", "qr aa rd ra", []string{"hr.test. 300 IN A 192.0.2.101"}},
		{[]string{"www.forwarded.test", "A"}, "NOERROR", "qr aa rd ra", []string{"www.forwarded.test. 0 IN A 192.0.2.55"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			status, flags, answer := digAnswer(t, n, tt.args...)
			if status != tt.status || flags != tt.flags || strings.Join(answer, "\n") != strings.Join(tt.answer, "\n") {
				t.Errorf("dig %v:\n got %s [%s] %q\nwant %s [%s] %q", tt.args, status, flags, answer, tt.status, tt.flags, tt.answer)
			}
		})
	}

	// hostsdir: a file written there is answered without SIGHUP (the
	// master watches the directory), with expand-hosts applied; removed,
	// its names go again.
	file := filepath.Join(m.dir, "hosts.d", "added")
	if err := os.WriteFile(file, []byte("192.0.2.150 added\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a hostsdir file to be answered", func() bool {
		return strings.TrimSpace(n.dig("@127.0.0.1", "+short", "added.lan.test")) == "192.0.2.150"
	})
	if got := strings.TrimSpace(n.dig("@127.0.0.1", "+short", "-x", "192.0.2.150")); got != "added.lan.test." {
		t.Errorf("PTR of the hostsdir address: %q", got)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a removed hostsdir file to be forgotten", func() bool {
		status, _, _ := digAnswer(t, n, "added.lan.test", "A")
		return status == "REFUSED" || status == "NXDOMAIN"
	})
	if strings.Contains(m.out.String(), "SIGHUP") {
		t.Errorf("the master was reloaded")
	}
	if !strings.Contains(m.out.String(), "config hr.test is 192.0.2.101") {
		t.Errorf("log-queries line for a host-record missing")
	}
}
