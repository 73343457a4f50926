package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpusJudge checks the corpus test's rules on made-up verdicts, so
// that each rule is known to be able to fail.
func TestCorpusJudge(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "x.conf")
	if err := os.WriteFile(conf, []byte("strict-order\nfoo=bar\ncache-size=10\nfilter-aaaa\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errAt := func(line int, option, msg string) moatError {
		return moatError{file: conf, line: line, option: option, msg: msg}
	}
	okD := dnsmasqVerdict{ok: true}
	rejects2 := dnsmasqVerdict{rejected: []dnsmasqRejection{{file: conf, line: 2, msg: "bad option"}}}
	rejects23 := dnsmasqVerdict{rejected: []dnsmasqRejection{{file: conf, line: 2, msg: "bad option"}, {file: conf, line: 3, msg: "bad number"}}}
	cases := []struct {
		name    string
		dnsmasq dnsmasqVerdict
		moat    moatVerdict
		want    string // a problem containing this, or "" for none
	}{
		{"both accept", okD, moatVerdict{ok: true}, ""},
		{"needs a subsystem not built", okD, moatVerdict{errors: []moatError{errAt(1, "strict-order", "unsupported option: needs TFTP, which moat does not have yet")}}, ""},
		{"unsupported without a subsystem", okD, moatVerdict{errors: []moatError{errAt(1, "strict-order", "unsupported option")}}, "which dnsmasq 2.90 accepts"},
		{"DHCPv6 form", okD, moatVerdict{errors: []moatError{errAt(3, "cache-size", `IPv6 range starting at ::: not supported yet (DHCPv6)`)}}, ""},
		{"other form not supported yet", okD, moatVerdict{errors: []moatError{errAt(3, "cache-size", `"10": the big form not supported yet`)}}, "which dnsmasq 2.90 accepts"},
		{"spelling moat will accept", okD, moatVerdict{errors: []moatError{errAt(4, "filter-aaaa", "unknown option")}}, ""},
		{"both reject the same line", rejects2, moatVerdict{errors: []moatError{errAt(2, "foo", "unknown option")}}, ""},
		{"both reject two lines", rejects23, moatVerdict{errors: []moatError{errAt(2, "foo", "unknown option"), errAt(3, "cache-size", "must be a number")}}, ""},
		{"moat misses dnsmasq's second line", rejects23, moatVerdict{errors: []moatError{errAt(2, "foo", "unknown option")}}, "rejects line 3"},
		{"moat accepts what dnsmasq rejects", rejects2, moatVerdict{ok: true}, "moat accepts it"},
		{"dnsmasq cannot read an include", dnsmasqVerdict{other: "cannot read /x"}, moatVerdict{ok: true}, "moat accepts it"},
		{"moat misses dnsmasq's line", rejects2, moatVerdict{errors: []moatError{errAt(1, "strict-order", "unsupported option: needs TFTP, which moat does not have yet")}}, "do not include that line"},
		{"moat rejects a supported option", okD, moatVerdict{errors: []moatError{errAt(3, "cache-size", "must be a number")}}, "which dnsmasq 2.90 accepts"},
		{"wrong option named", okD, moatVerdict{errors: []moatError{errAt(3, "strict-order", "unsupported option: needs TFTP, which moat does not have yet")}}, `names option "strict-order", but that line gives "cache-size"`},
		{"imprecise error", okD, moatVerdict{errors: []moatError{{msg: "something went wrong", kind: "imprecise"}}}, "does not read FILE:LINE"},
	}
	for _, c := range cases {
		f := &corpusFile{rel: "x.conf", path: conf, config: true, dnsmasq: c.dnsmasq, moat: c.moat}
		f.judge(t)
		got := strings.Join(f.problems, "\n")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: problems %q, want %q", c.name, got, c.want)
		}
	}
}

func TestMoatErrorParsing(t *testing.T) {
	line := `/etc/x.conf:12: server: "@wlan0": the @interface form not supported yet`
	m := moatErrorLine.FindStringSubmatch(line)
	if m == nil || m[1] != "/etc/x.conf" || m[2] != "12" || m[3] != "server" || !strings.HasPrefix(m[4], `"@wlan0"`) {
		t.Errorf("parse %q = %q", line, m)
	}
	quoted := `/etc/x.conf:3: "two words": unknown option`
	if m := moatErrorLine.FindStringSubmatch(quoted); m == nil || m[3] != `"two words"` {
		t.Errorf("parse %q = %q", quoted, m)
	}
	for msg, want := range map[string]string{
		`"@wlan0": the @interface form not supported yet`:       "the @interface form",
		`IPv6 range starting at ::: not supported yet (DHCPv6)`: "DHCPv6",
		`the big form not supported yet`:                        "the big form",
	} {
		if got := notYetForm(msg); got != want {
			t.Errorf("notYetForm(%q) = %q, want %q", msg, got, want)
		}
	}
}

// TestCorpusWarningsJudged: a file moat accepts must get a --test warning
// naming each option moat accepts without acting on.
func TestCorpusWarningsJudged(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "w.conf")
	if err := os.WriteFile(conf, []byte("dnssec\ntrust-anchor=.,1,2,3,ab\nipset=/a.com/s\nquiet-ra\nenable-ubus=dnsmasq\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		warnings []string
		want     string
	}{
		{"all named", []string{"enable-ubus=dnsmasq: no ubus", "dnssec, trust-anchor (1): NOT PERFORMED", "ipset (1): not filled"}, ""},
		{"ipset not named", []string{"enable-ubus=dnsmasq: no ubus", "dnssec, trust-anchor (1): NOT PERFORMED"}, "line 3 gives ipset"},
		{"no warnings at all", nil, "line 1 gives dnssec"},
	}
	for _, c := range cases {
		f := &corpusFile{rel: "w.conf", path: conf, config: true, dnsmasq: dnsmasqVerdict{ok: true}, moat: moatVerdict{ok: true, warnings: c.warnings}}
		f.judge(t)
		got := strings.Join(f.problems, "\n")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: problems %q, want %q", c.name, got, c.want)
		}
	}
	if !warningNames("dnssec, trust-anchor (2): x", "trust-anchor") || warningNames("dnssec-check-unsigned: x", "dnssec") {
		t.Error("warningNames")
	}
}
