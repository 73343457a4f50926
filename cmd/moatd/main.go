// Command moatd is moat's single binary. Started by a person or an init
// system it is the master; the master re-executes it with a role argument
// to start each worker. This file holds the role table and nothing else.
package main

import (
	"os"

	"github.com/moatdns/moat/dhcpd"
	"github.com/moatdns/moat/dnsd"
	"github.com/moatdns/moat/masterd"
	"github.com/moatdns/moat/scriptd"
)

// roles maps the worker role named after masterd.WorkerArg to its main.
var roles = map[string]func(args []string) int{
	"dnsd":  dnsd.Run,
	"dhcpd": dhcpd.Run,
	// The dhcp-script helper: started only with dhcp-script, not a worker.
	scriptd.Role: scriptd.Run,
}

func main() {
	if len(os.Args) >= 3 && os.Args[1] == masterd.WorkerArg {
		run, ok := roles[os.Args[2]]
		if !ok {
			os.Stderr.WriteString("moatd: unknown worker role " + os.Args[2] + "\n")
			os.Exit(2)
		}
		os.Exit(run(os.Args[3:]))
	}
	os.Exit(masterd.Run(os.Args[1:]))
}
