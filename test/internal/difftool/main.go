// Command difftool runs the network half of moat's differential tests
// inside a network namespace (the test process itself is outside it):
//
//	difftool serve ADDR[,ADDR]=ZONEFILE...
//	                                  fake upstream servers (one per
//	                                  argument, on each of its addresses);
//	                                  prints "ready", runs until stdin closes
//	difftool probe SERVER...          waits until every server answers
//	difftool query                    runs the dnsdiff.Batch read from stdin,
//	                                  writes the []dnsdiff.Outcome as JSON
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/moatdns/moat/test/internal/dnsdiff"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: difftool serve ADDR=ZONEFILE | probe SERVER | query"))
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "probe":
		err = dnsdiff.Probe(os.Args[2:], 5*time.Second)
	case "query":
		err = query(os.Stdin, os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "difftool:", err)
	os.Exit(1)
}

func serve(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("serve: no ADDR=ZONEFILE")
	}
	for _, a := range args {
		addrs, file, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("serve: %q is not ADDR=ZONEFILE", a)
		}
		addr, more, _ := strings.Cut(addrs, ",")
		text, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		zone, err := dnsdiff.ParseZone(string(text))
		if err != nil {
			return fmt.Errorf("serve %s: %w", file, err)
		}
		u, err := dnsdiff.ServeUpstream(addr, zone)
		if err != nil {
			return err
		}
		defer u.Close()
		for _, extra := range strings.Split(more, ",") {
			if extra == "" {
				continue
			}
			if err := u.Listen(extra); err != nil {
				return err
			}
		}
	}
	fmt.Println("ready")
	// The test holds stdin open; when it goes away (even killed), so does
	// this process.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

func query(in io.Reader, out io.Writer) error {
	var b dnsdiff.Batch
	if err := json.NewDecoder(in).Decode(&b); err != nil {
		return fmt.Errorf("query: read batch: %w", err)
	}
	outcomes, err := b.Run()
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return json.NewEncoder(out).Encode(outcomes)
}
