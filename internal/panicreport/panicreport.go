// Package panicreport owns the text a worker logs when it recovers from a
// panic caused by one packet: what was being done, the panic value, the
// packet in hex and the stack, each bounded so that a hostile packet
// cannot make the log line huge.
package panicreport

import (
	"encoding/hex"
	"fmt"
	"runtime/debug"
)

const (
	// MaxHex bounds the packet bytes a report shows.
	MaxHex = 1024
	// MaxStack bounds the stack trace a report shows.
	MaxStack = 2048
)

// Format describes a recovered panic r that happened while doing what with
// pkt. Call it from the deferred function that recovered, so that the
// stack still shows where the panic happened.
func Format(what string, r any, pkt []byte) string {
	shown := pkt
	if len(shown) > MaxHex {
		shown = shown[:MaxHex]
	}
	stack := debug.Stack()
	if len(stack) > MaxStack {
		stack = stack[:MaxStack]
	}
	return fmt.Sprintf("recovered from a panic %s: %v; packet (%d bytes): %s\n%s",
		what, r, len(pkt), hex.EncodeToString(shown), stack)
}
