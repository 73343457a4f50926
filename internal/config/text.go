package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// errStandalone refuses conf-file and conf-dir in ParseText's text.
var errStandalone = errors.New("not allowed here: this configuration text must stand alone (no conf-file or conf-dir)")

// noFiles is ParseText's file system: every access fails, so that a text
// from another process can never make its parser open a file.
type noFiles struct{}

func (noFiles) Stat(name string) (fs.FileInfo, error) {
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrPermission}
}

func (noFiles) Open(name string) (io.ReadCloser, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
}

func (noFiles) ReadDir(name string) ([]fs.DirEntry, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
}

// ParseText parses text as one configuration file called name, which
// must stand alone: conf-file and conf-dir are errors and the parser
// opens no file (dhcp-hostsfile and the like are only recorded, as
// always). It is for text another process sends, such as DHCPText's
// output sent by the master to dhcpd, and treats it as untrusted: the
// same limits as a file (size, line length, error count) apply. Errors
// are those of Parse, located at name:line.
func ParseText(name, text string) (*Config, error) {
	if name == "" {
		name = "text"
	}
	if len(text) > maxFileBytes {
		return nil, &Error{File: name, Msg: fmt.Sprintf("larger than %d bytes", maxFileBytes)}
	}
	p := &parser{
		cfg:           Defaults(),
		files:         noFiles{},
		limit:         maxErrors,
		once:          map[*option]onceUse{},
		resolvDefault: true,
		standalone:    true,
	}
	p.parseLines(name, text)
	switch len(p.errs) {
	case 0:
		return p.cfg, nil
	case 1:
		return nil, p.errs[0]
	}
	return nil, errors.Join(p.errs...)
}

// DHCPText prints what the DHCP server needs of c, in the form String
// prints it: port (whether this server answers DNS on 53, for the default
// DNS server option), the domain= lines (the DHCP domain of an address)
// and every DHCP option. ParseText of the result gives a Config whose
// DHCP, Port and Local.Domains equal c's.
func (c *Config) DHCPText() string {
	var b strings.Builder
	b.WriteString("port=" + strconv.Itoa(c.Port) + "\n")
	l := LocalData{Domains: c.Local.Domains}
	l.printLocalData(&b)
	c.DHCP.printDHCP(&b)
	return b.String()
}

// DefaultEthersFile is what read-ethers reads, as in dnsmasq.
const DefaultEthersFile = "/etc/ethers"

// DHCPFileText is the text of one file read for the DHCP server and the
// name its problems are reported under.
type DHCPFileText struct {
	Name, Text string
}

// DHCPFileHosts turns the texts of the dhcp-hostsfile files (in
// configuration order) and of /etc/ethers (nil: read-ethers is off) into
// the hosts that follow the configuration's own dhcp-host lines
// (configured, used for the duplicate-address check only). As dnsmasq
// does, a bad line is reported and skipped; so is a whole file too large
// to read. The master uses it to log the problems, dhcpd to build its
// engine from the same texts.
func DHCPFileHosts(configured []DHCPHost, hostsFiles []DHCPFileText, ethers *DHCPFileText) ([]DHCPHost, []error) {
	var hosts []DHCPHost
	var problems []error
	// One reader for all the files: the addresses of the earlier files
	// stay taken for the later ones, without copying their hosts.
	lines := 0
	for _, f := range hostsFiles {
		lines += strings.Count(f.Text, "\n") + 1
	}
	hr := newHostsReader(configured, lines)
	for _, f := range hostsFiles {
		hs, errs, err := hr.readText(f.Text, f.Name, strings.Count(f.Text, "\n")+1)
		problems = append(problems, errs...)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if hosts == nil {
			hosts = hs // the usual single file: no copy
		} else {
			hosts = append(hosts, hs...)
		}
	}
	if ethers != nil {
		hs, errs, err := ReadEthers(strings.NewReader(ethers.Text), ethers.Name)
		problems = append(problems, errs...)
		if err != nil {
			problems = append(problems, err)
		} else {
			hosts = append(hosts, hs...)
		}
	}
	return hosts, problems
}
