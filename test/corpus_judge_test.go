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
		{"unsupported only", okD, moatVerdict{errors: []moatError{errAt(1, "strict-order", "unsupported option")}}, ""},
		{"form not supported yet", okD, moatVerdict{errors: []moatError{errAt(3, "cache-size", `"10": the big form not supported yet`)}}, ""},
		{"spelling moat will accept", okD, moatVerdict{errors: []moatError{errAt(4, "filter-aaaa", "unknown option")}}, ""},
		{"both reject the same line", rejects2, moatVerdict{errors: []moatError{errAt(2, "foo", "unknown option")}}, ""},
		{"both reject two lines", rejects23, moatVerdict{errors: []moatError{errAt(2, "foo", "unknown option"), errAt(3, "cache-size", "must be a number")}}, ""},
		{"moat misses dnsmasq's second line", rejects23, moatVerdict{errors: []moatError{errAt(2, "foo", "unknown option")}}, "rejects line 3"},
		{"moat accepts what dnsmasq rejects", rejects2, moatVerdict{ok: true}, "moat accepts it"},
		{"dnsmasq cannot read an include", dnsmasqVerdict{other: "cannot read /x"}, moatVerdict{ok: true}, "moat accepts it"},
		{"moat misses dnsmasq's line", rejects2, moatVerdict{errors: []moatError{errAt(1, "strict-order", "unsupported option")}}, "do not include that line"},
		{"moat rejects a supported option", okD, moatVerdict{errors: []moatError{errAt(3, "cache-size", "must be a number")}}, "which dnsmasq 2.90 accepts"},
		{"wrong option named", okD, moatVerdict{errors: []moatError{errAt(3, "strict-order", "unsupported option")}}, `names option "strict-order", but that line gives "cache-size"`},
		{"imprecise error", okD, moatVerdict{errors: []moatError{{msg: "something went wrong", kind: "imprecise"}}}, "does not read FILE:LINE"},
	}
	for _, c := range cases {
		f := &corpusFile{rel: "x.conf", config: true, dnsmasq: c.dnsmasq, moat: c.moat}
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
