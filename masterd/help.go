package masterd

import (
	"fmt"
	"io"

	"github.com/moatdns/moat/internal/config"
)

// printHelp lists the options moatd implements, from the same table the
// parser uses, so the help cannot drift from the code.
func printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: moatd [options]\n\nOptions moat implements (every other dnsmasq option is refused by name):\n")
	for _, o := range config.Options() {
		if !o.Implemented {
			continue
		}
		short := "    "
		if o.Short != 0 {
			short = fmt.Sprintf("-%c, ", o.Short)
		}
		long := "--" + o.Name
		switch o.Arg {
		case config.ArgRequired:
			long += "=" + o.Meta
		case config.ArgOptional:
			long += "[=" + o.Meta + "]"
		}
		fmt.Fprintf(w, "  %s%-34s %s\n", short, long, o.Help)
	}
}
