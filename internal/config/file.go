package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fileSystem is what the parser reads through: the real one in Parse, a
// fenced one in the fuzz test (a fuzzed conf-file=/dev/... must not block).
type fileSystem interface {
	Stat(name string) (fs.FileInfo, error)
	Open(name string) (io.ReadCloser, error)
	ReadDir(name string) ([]fs.DirEntry, error)
}

type osFiles struct{}

func (osFiles) Stat(name string) (fs.FileInfo, error)      { return os.Stat(name) }
func (osFiles) Open(name string) (io.ReadCloser, error)    { return os.Open(name) }
func (osFiles) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// Limits on what one configuration may make the parser read.
const (
	maxFileBytes    = 16 << 20 // one configuration file
	maxIncludeDepth = 32       // conf-file / conf-dir nesting
)

// readFile reads one configuration file named at "at" by option via.
// optional is for the default file: a missing one is not an error.
func (p *parser) readFile(path string, at location, via string, optional bool) {
	info, err := p.files.Stat(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return
		}
		p.fail(at, via, err)
		return
	}
	for i, f := range p.open {
		if os.SameFile(f.info, info) {
			chain := make([]string, 0, len(p.open)-i+1)
			for _, g := range p.open[i:] {
				chain = append(chain, g.path)
			}
			chain = append(chain, path)
			p.fail(at, via, fmt.Errorf("include loop: %s", strings.Join(chain, " -> ")))
			return
		}
	}
	for _, done := range p.done {
		if os.SameFile(done, info) {
			return // dnsmasq also reads a file only once
		}
	}
	switch {
	case len(p.open) >= maxIncludeDepth:
		p.fail(at, via, fmt.Errorf("%s: files nested more than %d deep", path, maxIncludeDepth))
		return
	case info.IsDir():
		p.fail(at, via, fmt.Errorf("%s is a directory (conf-dir reads directories)", path))
		return
	case !info.Mode().IsRegular() && info.Mode()&fs.ModeCharDevice == 0:
		// A FIFO or socket could block the parser; /dev/null is fine.
		p.fail(at, via, fmt.Errorf("%s is not a regular file", path))
		return
	}
	data, err := p.readCapped(path)
	if err != nil {
		p.fail(at, via, err)
		return
	}
	p.cfg.Files = append(p.cfg.Files, path)
	p.open = append(p.open, openFile{path: path, info: info})
	p.parseLines(path, data)
	p.open = p.open[:len(p.open)-1]
	p.done = append(p.done, info)
}

func (p *parser) readCapped(path string) (string, error) {
	f, err := p.files.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxFileBytes)
	}
	return string(data), nil
}

// parseLines parses the text of one file, line by line.
func (p *parser) parseLines(path, data string) {
	p.eachOption(path, data, p.fileOption)
}

// eachOption lexes the text of one file and calls apply for every option
// line. Over-long lines, NUL bytes and lexing errors are reported with
// their file:line and skipped.
func (p *parser) eachOption(path, data string, apply func(at location, name string, v value)) {
	for n := 1; data != "" && !p.stop; n++ {
		line, rest, _ := strings.Cut(data, "\n")
		data = rest
		at := location{file: path, line: n}
		switch {
		case len(line) > maxLineBytes:
			p.fail(at, "", fmt.Errorf("line is longer than %d bytes", maxLineBytes))
			continue
		case strings.IndexByte(line, 0) >= 0:
			p.fail(at, "", errors.New("line contains a NUL byte"))
			continue
		}
		text, quoted, err := lexLine(line)
		if err != nil {
			p.fail(at, "", err)
			continue
		}
		if text == "" {
			continue
		}
		name, v := splitOption(text, quoted)
		apply(at, name, v)
	}
}

// setConfFile handles conf-file (-C). The command line's first one is
// read after the rest of the command line, as dnsmasq does.
func setConfFile(p *parser, v value, at location) error {
	if p.standalone {
		return errStandalone
	}
	if at.file == "" {
		p.confFileArg = true
	}
	path := v.text
	switch {
	case path == "":
		// dnsmasq reads nothing for "conf-file" or "conf-file=", and on
		// the command line that still keeps the default file from being
		// read: the way to start with no configuration file at all.
		return nil
	case path == "-":
		return notYet(`reading the configuration from stdin ("-")`)
	}
	if at.file == "" && p.firstConfFile == nil {
		p.firstConfFile = &path
		return nil
	}
	p.readFile(path, at, "conf-file", false)
	return nil
}

// setConfDir handles conf-dir (-7): "dir[,suffix...][,*suffix...]".
// Files are read in byte order of name; names ending in '~', starting
// with '.', or starting and ending with '#' are skipped, as are files
// ending in an excluded suffix and, when "*suffix" forms are given, files
// ending in none of them. Only regular files (or links to them) count.
func setConfDir(p *parser, v value, at location) error {
	if p.standalone {
		return errStandalone
	}
	parts := v.split(',')
	dir := parts[0].text
	if dir == "" {
		return errors.New("missing directory name")
	}
	var include, exclude []string
	for _, part := range parts[1:] {
		s := part.text
		switch {
		case s == "" || s == "*":
			// dnsmasq ignores empty elements and a bare '*'.
		case s[0] == '*':
			include = append(include, s[1:])
		default:
			exclude = append(exclude, s)
		}
	}
	entries, err := p.files.ReadDir(dir)
	if err != nil {
		return err
	}
	var paths []string
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if !confDirWants(name, include, exclude) {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := p.files.Stat(path)
		if err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			paths = append(paths, path)
		}
	}
	for _, path := range paths {
		p.readFile(path, at, "conf-dir", false)
	}
	return nil
}

func confDirWants(name string, include, exclude []string) bool {
	if name == "" || name[0] == '.' || strings.HasSuffix(name, "~") ||
		(name[0] == '#' && name[len(name)-1] == '#') {
		return false
	}
	// dnsmasq wants the name strictly longer than the suffix.
	hasSuffix := func(s string) bool { return len(name) > len(s) && strings.HasSuffix(name, s) }
	if len(include) > 0 {
		found := false
		for _, s := range include {
			found = found || hasSuffix(s)
		}
		if !found {
			return false
		}
	}
	for _, s := range exclude {
		if hasSuffix(s) {
			return false
		}
	}
	return true
}
