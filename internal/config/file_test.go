package config

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatdns/moat/internal/testutil"
)

func TestGoodFiles(t *testing.T) {
	tests := []struct {
		file  string
		want  *Config
		files []string
	}{
		{"testdata/good/basic.conf", configWith(func(c *Config) {
			c.Port = 5353
			c.ListenAddresses = addrs("127.0.0.1", "::1")
			c.Interfaces = []string{"eth0", "wlan*"}
			c.ExceptInterfaces = []string{"lo"}
			c.BindInterfaces = true
			c.NoResolv = true
			c.Servers = []Server{
				upstream("192.0.2.1:53"),
				upstream("10.0.0.1:5353", "corp.example"),
				upstream("[2001:db8::53]:53", "a.example", "b.example"),
				localOnly("lan"),
				upstream("192.0.2.2:53", ""),
				{Domains: []string{"www.corp.example"}, UseStandard: true},
				upstream("[fe80::1%lo]:5300"),
			}
			c.ResolvFiles = []string{"/etc/resolv.moat"}
			c.CacheSize = 1000
			c.NoHosts = true
			c.AddnHosts = []string{"/etc/hosts.extra"}
			c.User, c.Group = "dnsmasq", "dnsmasq"
			c.KeepInForeground = true
			c.LogQueries, c.LogQueriesExtra = true, "extra"
			c.LogFacility = "local3"
			c.PidFile = "/run/test.pid"
			c.DHCP.Ranges = []DHCPRange{{Start: dhcpIP("192.168.0.50"), End: dhcpIP("192.168.0.150"), Lease: 12 * 3600}}
		}), []string{"testdata/good/basic.conf"}},
		// Every line of syntax.conf ends in CRLF; dnsmasq treats '\r'
		// as whitespace.
		{"testdata/good/syntax.conf", configWith(func(c *Config) {
			c.Port = 5300
			c.AddnHosts = []string{
				"/etc/hosts with space",
				"/etc/hosts#not-a-comment",
				"/etc/quoted",
				`/etc/esc"aped\`,
				"/etc/h1",
				"a,b , c", // addn-hosts does not split on commas
			}
			c.PidFile = "/run/x.pid"
			c.Interfaces = []string{"eth0"}
			c.NoHosts = true
			c.LogFacility = "/var/log/moat.log"
		}), nil},
		{"testdata/good/bare.conf", configWith(func(c *Config) {
			c.PidFile = ""
			c.User = ""
			c.ResolvFiles = nil
			c.Interfaces = []string{""}
			c.LogQueries = true
			c.NoDaemon = true
			c.CacheSize = 0
			c.Port = 0
		}), nil},
		{"testdata/good/empty.conf", Defaults(), []string{"testdata/good/empty.conf"}},
		// main.conf names sub.conf twice: like dnsmasq, the second is
		// skipped. conf-dir files come in name order, and a file in it
		// may include another.
		{"testdata/nested/main.conf", configWith(func(c *Config) {
			c.AddnHosts = []string{"/main-1", "/sub", "/main-2", "/dir-10", "/deep", "/dir-20", "/main-3"}
		}), []string{
			"testdata/nested/main.conf",
			"testdata/nested/sub.conf",
			"testdata/nested/dir/10-first.conf",
			"testdata/nested/deep.conf",
			"testdata/nested/dir/20-second.conf",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := mustParse(t, "-C", tt.file)
			sameConfig(t, got, tt.want)
			if tt.files != nil && !equalStrings(got.Files, tt.files) {
				t.Errorf("Files = %q, want %q", got.Files, tt.files)
			}
		})
	}
}

func equalStrings(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func TestServerSource(t *testing.T) {
	c := mustParse(t, "-C", "testdata/good/basic.conf", "-S", "192.0.2.9")
	if got := c.Servers[0].Source; got != "command line" {
		t.Errorf("first server's Source = %q, want command line", got)
	}
	if got := c.Servers[2].Source; got != "testdata/good/basic.conf:9" {
		t.Errorf("Source = %q, want testdata/good/basic.conf:9", got)
	}
}

// TestBadFiles parses each testdata/bad file; its first line says the
// error wanted, its second what dnsmasq 2.90 --test does with it.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.conf")
	if err != nil || len(files) < 40 {
		t.Fatalf("glob: %d files, %v", len(files), err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want, _ := fixtureHeader(t, file)
			c, err := Parse([]string{"-C", file}, "")
			if err == nil {
				t.Fatalf("no error; parsed to\n%s", c)
			}
			if got := firstLine(err); got != want {
				t.Errorf("error\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// fixtureHeader reads "# want: ..." and "# dnsmasq: ..." from a bad file.
func fixtureHeader(t *testing.T, file string) (want, dnsmasq string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < 2 && sc.Scan(); i++ {
		if s, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			want = s
		}
		if s, ok := strings.CutPrefix(sc.Text(), "# dnsmasq: "); ok {
			dnsmasq = s
		}
	}
	if want == "" || dnsmasq == "" {
		t.Fatalf("%s: no '# want:' and '# dnsmasq:' header", file)
	}
	return want, dnsmasq
}

// TestFixturesAgainstDnsmasq checks the fixtures' claims about dnsmasq by
// running dnsmasq 2.90 --test on them: good files pass, bad files do
// what their "# dnsmasq:" line says.
func TestFixturesAgainstDnsmasq(t *testing.T) {
	bin := testutil.RequireCommand(t, "dnsmasq")
	good, _ := filepath.Glob("testdata/good/*.conf")
	bad, _ := filepath.Glob("testdata/bad/*.conf")
	for _, file := range append(good, bad...) {
		t.Run(file, func(t *testing.T) {
			wantOK := true
			if strings.Contains(file, "/bad/") {
				_, claim := fixtureHeader(t, file)
				wantOK = strings.HasPrefix(claim, "ok")
			}
			out, err := exec.Command(bin, "--test", "-C", file).CombinedOutput()
			gotOK := err == nil && strings.Contains(string(out), "syntax check OK")
			if gotOK != wantOK {
				t.Errorf("dnsmasq --test: ok=%v, fixture says ok=%v; output: %s", gotOK, wantOK, out)
			}
		})
	}
}

func TestConfDir(t *testing.T) {
	tests := []struct {
		arg  string
		want []string // names read, in order
	}{
		// dnsmasq 2.90 read exactly these files (checked with strace).
		{"testdata/confdir", []string{"a.conf", "b.conf", "c.bak", "d.tmp", "z.txt"}},
		{"testdata/confdir,.bak,.tmp", []string{"a.conf", "b.conf", "z.txt"}},
		{"testdata/confdir/,*.conf", []string{"a.conf", "b.conf"}},
		{"testdata/confdir,*.conf,*.txt,.txt", []string{"a.conf", "b.conf"}},
		{"testdata/confdir,*", []string{"a.conf", "b.conf", "c.bak", "d.tmp", "z.txt"}},
		{"testdata/confdir, .bak ,", []string{"a.conf", "b.conf", "d.tmp", "z.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			for _, args := range [][]string{{"--conf-dir=" + tt.arg}, {"-7", tt.arg}} {
				c := mustParse(t, args...)
				var gotHosts, wantHosts, wantFiles []string
				gotHosts = c.AddnHosts
				for _, n := range tt.want {
					wantHosts = append(wantHosts, "/"+n)
					wantFiles = append(wantFiles, filepath.Join("testdata/confdir", n))
				}
				if !equalStrings(gotHosts, wantHosts) {
					t.Errorf("%q: read %q, want %q", args, gotHosts, wantHosts)
				}
				if !equalStrings(c.Files, wantFiles) {
					t.Errorf("%q: Files %q, want %q", args, c.Files, wantFiles)
				}
			}
		})
	}
}

func TestLineLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	okLine := "addn-hosts=/" + strings.Repeat("x", maxLineBytes-len("addn-hosts=/"))
	long := write("long.conf", "port=1\n"+okLine+"\n"+okLine+"x\n")
	_, err := Parse([]string{"-C", long}, "")
	if want := long + ":3: line is longer than 1024 bytes"; firstLine(err) != want {
		t.Errorf("got %v, want %s", err, want)
	}
	nul := write("nul.conf", "port=1\x00\n")
	_, err = Parse([]string{"-C", nul}, "")
	if want := nul + ":1: line contains a NUL byte"; firstLine(err) != want {
		t.Errorf("got %v, want %s", err, want)
	}
	noNewline := write("nonl.conf", "port=54")
	if c := mustParse(t, "-C", noNewline); c.Port != 54 {
		t.Errorf("last line without newline: port %d", c.Port)
	}
}

// TestAllErrorsReported: Parse goes on after an error and reports each.
func TestAllErrorsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.conf")
	text := "port=x\ntftp-root=a\nport=5\nbogus\nserver=1.2.3.4@eth*\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse([]string{"-C", path}, "")
	var got []string
	for _, e := range Errors(err) {
		got = append(got, e.Error())
	}
	want := []string{
		path + `:1: port: "x" is not a port number`,
		path + ":2: tftp-root: unsupported option: needs TFTP, which moat does not have yet",
		path + ":4: bogus: unknown option",
		path + `:5: server: "eth*": an @interface cannot be a pattern`,
	}
	if !equalStrings(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err.Error() != strings.Join(want, "\n") {
		t.Errorf("Error() = %q", err.Error())
	}
	var first *Error
	if !errors.As(err, &first) || first.Line != 1 || first.Option != "port" {
		t.Errorf("errors.As gives %+v, want the first error", first)
	}
}

func TestTooManyErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.conf")
	if err := os.WriteFile(path, []byte(strings.Repeat("bogus\n", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse([]string{"-C", path}, "")
	errs := Errors(err)
	if len(errs) != maxErrors+1 {
		t.Fatalf("%d errors, want %d", len(errs), maxErrors+1)
	}
	if last := errs[len(errs)-1].Error(); !strings.HasSuffix(last, "too many errors; stopped after 50") {
		t.Errorf("last error %q", last)
	}
}

func TestIncludeErrorsWrapFSErrors(t *testing.T) {
	_, err := Parse([]string{"-C", "testdata/bad/conf-file-missing.conf"}, "")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}
