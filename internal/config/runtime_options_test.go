package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// parseRunLines writes lines to a file and parses it (with args first),
// so errors carry file:line.
func parseRunLines(t *testing.T, args []string, lines ...string) (*Config, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(append(args, "-C", path), "")
	return c, path, err
}

// The values below are what dnsmasq 2.90 --test accepts; the rejections
// are its rejections too (checked by hand against dnsmasq --test).
func TestRunOptionsParse(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		lines []string
		want  RunOptions
	}{
		{"defaults", nil, nil, RunOptions{}},
		{"bind-dynamic", nil, []string{"bind-dynamic"}, RunOptions{BindDynamic: true}},
		{"bind-dynamic twice is fine", nil, []string{"bind-dynamic", "bind-dynamic"}, RunOptions{BindDynamic: true}},
		{"bind-dynamic with bind-interfaces parses (the master refuses it)", nil, []string{"bind-interfaces", "bind-dynamic"}, RunOptions{BindDynamic: true}},
		{"log-async bare queues 5", nil, []string{"log-async"}, RunOptions{LogAsync: true, LogAsyncQueue: 5}},
		{"log-async value", nil, []string{"log-async=25"}, RunOptions{LogAsync: true, LogAsyncQueue: 25}},
		{"log-async 0", nil, []string{"log-async=0"}, RunOptions{LogAsync: true}},
		{"log-async empty is 0", nil, []string{"log-async="}, RunOptions{LogAsync: true}},
		{"log-async above 100 is lowered", nil, []string{"log-async=200"}, RunOptions{LogAsync: true, LogAsyncQueue: 100}},
		{"file overrides command line", []string{"--log-async=7"}, []string{"log-async=9"}, RunOptions{LogAsync: true, LogAsyncQueue: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := parseRunLines(t, tt.args, tt.lines...)
			if err != nil {
				t.Fatal(err)
			}
			if c.Runtime != tt.want {
				t.Errorf("Runtime = %+v, want %+v", c.Runtime, tt.want)
			}
			roundTrip(t, c)
		})
	}
}

func TestRunOptionsErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		lines []string
		want  string // after "file:line: "
	}{
		{"bind-dynamic with value", nil, []string{"bind-dynamic=1"}, "bind-dynamic: takes no value"},
		{"log-async negative", nil, []string{"log-async=-1"}, `log-async: "-1" is not a number of lines`},
		{"log-async word", nil, []string{"log-async=abc"}, `log-async: "abc" is not a number of lines`},
		{"log-async plus sign", nil, []string{"log-async=+5"}, `log-async: "+5" is not a number of lines`},
		{"log-async hex", nil, []string{"log-async=0x10"}, `log-async: "0x10" is not a number of lines`},
		{"log-async beyond int", nil, []string{"log-async=99999999999999"}, "log-async: \"99999999999999\" is out of range"},
		{"log-async twice", nil, []string{"log-async", "log-async=3"}, "log-async: given more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := parseRunLines(t, tt.args, tt.lines...)
			if err == nil {
				t.Fatal("no error")
			}
			prefix := path + ":" + strconv.Itoa(len(tt.lines)) + ": "
			if got := firstLine(err); !strings.HasPrefix(got, prefix) || !strings.Contains(got, tt.want) {
				t.Errorf("error %q, want %q%s...", got, prefix, tt.want)
			}
		})
	}
}

func TestRunOptionsCommandLine(t *testing.T) {
	c := mustParse(t, "--bind-dynamic", "--log-async")
	if want := (RunOptions{BindDynamic: true, LogAsync: true, LogAsyncQueue: DefaultLogAsyncQueue}); c.Runtime != want {
		t.Errorf("Runtime = %+v, want %+v", c.Runtime, want)
	}
	if _, err := Parse([]string{"--log-async", "--log-async"}, ""); err == nil || !strings.Contains(err.Error(), "given more than once") {
		t.Errorf("log-async twice on the command line: %v, want given more than once", err)
	}
}

func TestRunOptionsPrint(t *testing.T) {
	got := mustParse(t, "--bind-interfaces", "--bind-dynamic", "--log-async").String()
	if want := "bind-interfaces\nbind-dynamic\nlog-async=5\n"; !strings.Contains(got, want) {
		t.Errorf("String():\n%s\nwant it to contain:\n%s", got, want)
	}
	if got := mustParse(t).String(); strings.Contains(got, "bind-dynamic") || strings.Contains(got, "log-async") {
		t.Errorf("defaults print bind-dynamic or log-async:\n%s", got)
	}
}
