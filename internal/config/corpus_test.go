package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatdns/moat/internal/testutil"
)

// corpusDir holds real dnsmasq configurations (see its README.md).
const corpusDir = "../../../shared/corpus/dnsmasq-conf"

// corpusExpectedUnknown lists names in the corpus that are not dnsmasq
// 2.90 options, per the corpus README: dnsmasq --test rejects them too.
var corpusExpectedUnknown = map[string][]string{
	"libvirt/dnsmasq-options.conf": {"foo"}, // deliberately bogus pass-through
	// openwrt/real-dump-dnsmasq.conf.cfg01411c has filter-aaaa, the
	// OpenWrt-patched spelling that stock dnsmasq rejects; moat accepts it.
}

// corpusExpectedErrors lists errors dnsmasq 2.90 --test reports too, per
// file: the substring each error message contains.
var corpusExpectedErrors = map[string][]string{
	// A template: server=@DNS1@ is a placeholder, which dnsmasq rejects
	// ("Name or service not known").
	"pihole/v5-01-pihole.conf.template": {`server: "" is not an IP address`},
}

// TestCorpusOptionNamesKnown parses every configuration file of the corpus
// and checks that each error is one the option table explains: an option
// that needs a subsystem moat has not built yet (DHCPv6, router
// advertisements, TFTP, DHCP relaying), a DHCPv6 form of a DHCP option, or an include path
// that exists only on the host the file came from. An "unknown option"
// for a real dnsmasq option, or any other error, fails.
func TestCorpusOptionNamesKnown(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		testutil.Unavailable(t, "the corpus is not beside the repository: "+err.Error())
	}
	var files []string
	err := filepath.WalkDir(corpusDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// Configuration files have ".conf" in their names; the rest are
		// hosts files, lease files, UCI and notes.
		if !d.IsDir() && strings.Contains(d.Name(), ".conf") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("found only %d configuration files in %s", len(files), corpusDir)
	}
	for _, path := range files {
		rel, _ := filepath.Rel(corpusDir, path)
		t.Run(rel, func(t *testing.T) {
			_, err := parseWith([]string{"-C", path}, "", osFiles{}, 10000)
			unknownOK := map[string]bool{}
			for _, n := range corpusExpectedUnknown[rel] {
				unknownOK[n] = true
			}
			for _, e := range Errors(err) {
				switch {
				// Options and forms moat does not have yet must say
				// which subsystem they wait for (issue 6).
				case strings.HasPrefix(e.Msg, msgUnsupported) && byName[e.Option] != nil && byName[e.Option].Needs != "":
				case strings.Contains(e.Msg, "not supported yet (DHCPv6)"):
				case (e.Option == "conf-file" || e.Option == "conf-dir") && errors.Is(e, fs.ErrNotExist):
				case expectedCorpusError(rel, e.Error()):
				case e.Msg == msgUnknown && unknownOK[e.Option]:
					delete(unknownOK, e.Option)
				default:
					t.Errorf("unexpected error: %v", e)
				}
			}
			for n := range unknownOK {
				t.Errorf("expected %q to be reported as an unknown option", n)
			}
		})
	}
}

func expectedCorpusError(file, msg string) bool {
	for _, want := range corpusExpectedErrors[file] {
		if strings.Contains(msg, want) {
			return true
		}
	}
	return false
}
