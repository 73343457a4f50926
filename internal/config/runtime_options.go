package config

import "strconv"

// RunOptions holds how moat runs rather than what it answers:
// dnsmasq 2.90's bind-dynamic and log-async.
type RunOptions struct {
	// BindDynamic (bind-dynamic): bind each address of the served
	// interfaces, like bind-interfaces, and keep binding addresses as they
	// appear and closing the sockets of addresses that vanish. dnsmasq
	// accepts it together with bind-interfaces in --test and refuses the
	// pair at start; so does moat (the master's check).
	BindDynamic bool
	// LogAsync (log-async[=N]): asynchronous logging, with LogAsyncQueue
	// the lines dnsmasq may queue (bare: DefaultLogAsyncQueue; larger
	// values are lowered to MaxLogAsyncQueue, as dnsmasq does). moat's
	// logging is always asynchronous with a larger queue, so the value is
	// accepted, printed and otherwise unused.
	LogAsync      bool
	LogAsyncQueue int
}

// dnsmasq's log-async queue: LOG_MAX lines by default, at most 100.
const (
	DefaultLogAsyncQueue = 5
	MaxLogAsyncQueue     = 100
)

func setBindDynamic(p *parser, _ value, _ location) error {
	p.cfg.Runtime.BindDynamic = true
	return nil
}

// setLogAsync: a bare log-async queues DefaultLogAsyncQueue lines; an
// empty value counts as 0, as dnsmasq's atoi("") does.
func setLogAsync(p *parser, v value, _ location) error {
	n := DefaultLogAsyncQueue
	if v.given {
		n = 0
		if v.text != "" {
			var err error
			// Anything above MaxLogAsyncQueue is lowered below; the bound
			// here only keeps the number an int.
			if n, err = parseDecimal(v.text, 1<<31-1, "a number of lines"); err != nil {
				return err
			}
		}
	}
	p.cfg.Runtime.LogAsync = true
	p.cfg.Runtime.LogAsyncQueue = min(n, MaxLogAsyncQueue)
	return nil
}

// print writes the options back; log-async always with its value, so the
// printed form parses to the same queue length.
func (r RunOptions) print(line func(name, val string), flag func(name string, on bool)) {
	flag("bind-dynamic", r.BindDynamic)
	if r.LogAsync {
		line("log-async", strconv.Itoa(r.LogAsyncQueue))
	}
}
