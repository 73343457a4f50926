package config

import (
	"errors"
	"fmt"
	"strconv"
)

// location is where an option was given: a file line, or the command line.
type location struct {
	file string // "" for the command line
	line int
}

var commandLine = location{}

func (l location) String() string {
	if l.file == "" {
		return "command line"
	}
	return fmt.Sprintf("%s:%d", l.file, l.line)
}

// Error is one configuration error. Its text reads
// "file:line: option: what is wrong" ("command line: ..." for arguments).
type Error struct {
	File   string // "" for the command line
	Line   int    // 1-based; 0 for the command line
	Option string // option name as given; "" when the error is not about one option
	Msg    string // what is wrong
	Err    error  // underlying error (file system errors), or nil
}

func (e *Error) Error() string {
	loc := location{e.File, e.Line}.String()
	if e.Option == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + quoteOdd(e.Option) + ": " + e.Msg
}

// quoteOdd quotes a name with spaces or control characters in it (a
// quoted option name in a file can hold anything).
func quoteOdd(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' {
			return strconv.Quote(s)
		}
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Messages shared by the parser and its tests.
const (
	msgUnknown     = "unknown option"
	msgUnsupported = "unsupported option"
)

var errUnknownOption = errors.New(msgUnknown)

// unsupported is the error for an option moat does not implement: it says
// which subsystem the option needs when that is known.
func unsupported(o *option) error {
	if o.Needs == "" {
		return errors.New(msgUnsupported)
	}
	return fmt.Errorf("%s: needs %s, which moat does not have yet", msgUnsupported, o.Needs)
}

// notYet reports a form of an implemented option that moat does not
// handle yet.
func notYet(form string) error {
	return fmt.Errorf("%s not supported yet", form)
}

// maxErrors bounds how many errors one Parse collects before it stops.
const maxErrors = 50

// Errors splits an error returned by Parse into its parts, in the order
// they were found. It returns nil for nil.
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	var parts []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	} else {
		parts = []error{err}
	}
	var out []*Error
	for _, p := range parts {
		var e *Error
		if errors.As(p, &e) {
			out = append(out, e)
		} else {
			out = append(out, &Error{Msg: p.Error(), Err: p})
		}
	}
	return out
}
