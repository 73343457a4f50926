package config

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Parse parses a command line (without argv[0]), reading every conf-file
// and conf-dir it names. When the command line names no conf-file,
// defaultFile is read if it exists ("" for none), as dnsmasq reads
// /etc/dnsmasq.conf.
//
// Parse does what dnsmasq 2.90 does, in the same order: the command line
// first (the first conf-file named there is read after the rest of the
// command line, later ones at once), then that first file. Relative paths
// are relative to the working directory, as in dnsmasq. A file already
// read is skipped when named again (dnsmasq does the same); a file that
// includes itself, directly or not, is an error.
//
// On failure Parse returns every error found (up to 50; one per line at
// most), joined: the first line of err.Error() is the first error, and
// Errors(err) gives them one by one. --help and --version stop parsing at
// once and return a Config with Help or Version set.
func Parse(args []string, defaultFile string) (*Config, error) {
	return parseWith(args, defaultFile, osFiles{}, maxErrors)
}

// parser holds the state of one Parse.
type parser struct {
	cfg   *Config
	files fileSystem
	errs  []error
	limit int  // stop after this many errors
	stop  bool // help, version, or too many errors

	// once remembers single-valued options already given (dnsmasq's
	// ARG_USED_CL / ARG_USED_FILE).
	once map[*option]onceUse
	// resolvDefault: ResolvFiles still holds only the default, which the
	// first resolv-file replaces.
	resolvDefault bool

	// standalone: the text must stand alone (ParseText); conf-file and
	// conf-dir are refused and files is noFiles.
	standalone bool

	// leaseFileSet: a dhcp-leasefile (or dhcp-lease) line was given.
	leaseFileSet bool

	firstConfFile *string // the command line's first conf-file, read last
	confFileArg   bool    // the command line named a conf-file (maybe a bad one)
	open          []openFile
	done          []fs.FileInfo
}

type onceUse struct {
	inFile bool
	at     location
}

type openFile struct {
	path string
	info fs.FileInfo
}

func parseWith(args []string, defaultFile string, files fileSystem, limit int) (*Config, error) {
	p := &parser{
		cfg:           Defaults(),
		files:         files,
		limit:         limit,
		once:          map[*option]onceUse{},
		resolvDefault: true,
	}
	p.commandLine(args)
	if !p.stop {
		switch {
		case p.firstConfFile != nil:
			p.readFile(*p.firstConfFile, commandLine, "conf-file", false)
		case defaultFile != "" && !p.confFileArg:
			p.readFile(defaultFile, commandLine, "conf-file", true)
		}
	}
	if len(p.errs) == 0 {
		p.instanceLeaseFile()
	}
	switch len(p.errs) {
	case 0:
		return p.cfg, nil
	case 1:
		return nil, p.errs[0]
	}
	return nil, errors.Join(p.errs...)
}

// fail records an error; at the limit it records that it stopped.
func (p *parser) fail(at location, option string, err error) {
	if p.stop && len(p.errs) >= p.limit {
		return
	}
	e := &Error{File: at.file, Line: at.line, Option: option, Msg: err.Error()}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		e.Err = err
	}
	p.errs = append(p.errs, e)
	if len(p.errs) >= p.limit {
		p.errs = append(p.errs, &Error{File: at.file, Line: at.line,
			Msg: fmt.Sprintf("too many errors; stopped after %d", p.limit)})
		p.stop = true
	}
}

// commandLine walks args the way glibc's getopt_long does for dnsmasq's
// table: "--name=value", "--name value" (required values only), "--name"
// and unambiguous prefixes of names; "-x", bundled "-kd", "-p53" and
// "-p 53"; "--" ends the options. Arguments that are not options are an
// error unless blank, as dnsmasq reports "junk found in command line".
func (p *parser) commandLine(args []string) {
	for i := 0; i < len(args) && !p.stop; i++ {
		a := args[i]
		switch {
		case a == "--":
			for _, rest := range args[i+1:] {
				p.junk(rest)
			}
			return
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o, err := lookupLong(name)
			if err != nil {
				p.fail(commandLine, name, err)
				continue
			}
			v := value{text: val, given: hasVal}
			if o.Arg == ArgRequired && !hasVal && i+1 < len(args) {
				i++
				v = plainValue(args[i])
			}
			p.apply(o, v, commandLine)
		case len(a) > 1 && a[0] == '-':
			i = p.shortOptions(args, i)
		default:
			p.junk(a)
		}
	}
}

// shortOptions handles one "-abc" argument at args[i] and returns the
// index of the last argument it used.
func (p *parser) shortOptions(args []string, i int) int {
	a := args[i]
	for j := 1; j < len(a) && !p.stop; j++ {
		c := rune(a[j])
		o, ok := byShort[c]
		if !ok {
			p.fail(commandLine, "-"+string(c), errUnknownOption)
			return i
		}
		if !o.ShortArg {
			p.apply(o, value{}, commandLine)
			continue
		}
		switch {
		case j+1 < len(a):
			p.apply(o, plainValue(a[j+1:]), commandLine)
		case i+1 < len(args):
			i++
			p.apply(o, plainValue(args[i]), commandLine)
		default:
			p.fail(commandLine, o.Name, errors.New("missing value"))
		}
		return i
	}
	return i
}

func (p *parser) junk(a string) {
	if strings.TrimSpace(a) != "" {
		p.fail(commandLine, "", fmt.Errorf("%q: unexpected argument (not an option)", a))
	}
}

// fileOption looks up a name from a file; unlike the command line, files
// need the exact name.
func (p *parser) fileOption(at location, name string, v value) {
	if name == "" {
		p.fail(at, "", errors.New("missing option name before '='"))
		return
	}
	o, ok := byName[name]
	if !ok {
		p.fail(at, name, errUnknownOption)
		return
	}
	p.apply(o, v, at)
}

// apply checks an occurrence of o against the table and runs its handler.
func (p *parser) apply(o *option, v value, at location) {
	fromFile := at.file != ""
	switch {
	case o.apply == nil:
		p.fail(at, o.Name, unsupported(o))
		return
	case o.CommandLineOnly && fromFile:
		p.fail(at, o.Name, errors.New("only allowed on the command line"))
		return
	case o.Arg == ArgNone && v.given:
		p.fail(at, o.Name, fmt.Errorf("takes no value (got %q)", v.text))
		return
	case o.Arg == ArgRequired && !v.given:
		p.fail(at, o.Name, errors.New("missing value"))
		return
	}
	if o.Once && !p.checkOnce(o, at) {
		return
	}
	if err := o.apply(p, v, at); err != nil {
		p.fail(at, o.Name, err)
		return
	}
	if o.Once {
		p.recordOnce(o, at)
	}
}

// checkOnce enforces dnsmasq's rule for single-valued options: once on
// the command line and once in files, the file's value winning (files
// are read after the command line).
func (p *parser) checkOnce(o *option, at location) bool {
	fromFile := at.file != ""
	prev, seen := p.once[o]
	if seen && prev.inFile == fromFile {
		p.fail(at, o.Name, fmt.Errorf("given more than once (first at %s)", prev.at))
		return false
	}
	return true
}

// recordOnce notes a valid use of a single-valued option. A command-line
// use after a file's leaves the file's mark, as in dnsmasq.
func (p *parser) recordOnce(o *option, at location) {
	fromFile := at.file != ""
	if _, seen := p.once[o]; !seen || fromFile {
		p.once[o] = onceUse{inFile: fromFile, at: at}
	}
}
