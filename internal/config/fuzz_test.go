package config

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fencedFiles lets the parser read only below root, so a fuzzed
// conf-file=/dev/tty or conf-dir=/proc cannot block or wander.
type fencedFiles struct{ root string }

func (f fencedFiles) check(op, name string) error {
	abs, err := filepath.Abs(name)
	if err != nil || (abs != f.root && !strings.HasPrefix(abs, f.root+string(filepath.Separator))) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrPermission}
	}
	return nil
}

func (f fencedFiles) Stat(name string) (fs.FileInfo, error) {
	if err := f.check("stat", name); err != nil {
		return nil, err
	}
	return os.Stat(name)
}

func (f fencedFiles) Open(name string) (io.ReadCloser, error) {
	if err := f.check("open", name); err != nil {
		return nil, err
	}
	return os.Open(name)
}

func (f fencedFiles) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.check("open", name); err != nil {
		return nil, err
	}
	return os.ReadDir(name)
}

// FuzzParse feeds arbitrary bytes as a configuration file. Parse must not
// panic; an error must be well formed; a success must print to text that
// parses back to the same Config.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.conf")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"port=53\n", "server=/a/b/::1#53\nlocal=//\n", `addn-hosts="a\"b" # c`,
		"interface=\nresolv-file\npid-file\n", "conf-dir=.,*.conf\n", "conf-file=/dev/zero\n",
		"log-queries=proto\nlog-facility=-\n", "\"\"=\"\"\n", "=\n", "#\n\r\n\t\n",
		// issue 6: accepted, not acted on
		"enable-dbus=a.b\nenable-ubus\ndnssec\ntrust-anchor=.,IN,1,2,3,ab:cd\nproxy-dnssec\n",
		"ipset=/a.com/b.org/s1,s2\nnftset=/a.com/4#inet#t#s\ndnssec-check-unsigned=no\nquiet-ra\nquiet-dhcp6\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir, err := filepath.Abs(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		files := fencedFiles{root: dir}
		path := filepath.Join(dir, "fuzz.conf")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := parseWith([]string{"-C", path}, "", files, maxErrors)
		if err != nil {
			errs := Errors(err)
			if len(errs) == 0 || len(errs) > maxErrors+1 {
				t.Fatalf("%d errors: %v", len(errs), err)
			}
			var lines []string
			for _, e := range errs {
				if e.Msg == "" || (e.File == "" && e.Line != 0) {
					t.Fatalf("malformed error %#v", e)
				}
				lines = append(lines, e.Error())
			}
			if joined := strings.Join(lines, "\n"); err.Error() != joined {
				t.Fatalf("error text %q is not its parts %q", err.Error(), joined)
			}
			return
		}
		text := c.String()
		printed := filepath.Join(dir, "printed.conf")
		if err := os.WriteFile(printed, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := parseWith([]string{"-C", printed}, "", files, maxErrors)
		if err != nil {
			t.Fatalf("printed config does not parse: %v\n%s", err, text)
		}
		if g, w := fmt.Sprintf("%#v", comparable(back)), fmt.Sprintf("%#v", comparable(c)); g != w {
			t.Fatalf("round trip differs:\n%s\n%s\nprinted:\n%s", g, w, text)
		}
	})
}
