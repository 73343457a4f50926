// Package scriptd is the dhcp-script helper: a process the master starts
// only when dhcp-script is configured, as dhcp-scriptuser, which runs the
// script once for every lease change the master sends it, one at a time
// and in order, with dnsmasq's arguments and DNSMASQ_* environment. It
// execs the script directly (never through a shell), so the strings a
// DHCP client chose reach the script verbatim as argv elements and
// environment values. The script's path comes from the helper's command
// line, never over IPC. The helper confines itself first
// (seccomp.ConfineScript: the script user, no capabilities, no_new_privs,
// a deny-list filter the script inherits; no chroot).
package scriptd

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moatdns/moat/internal/workerproc"
	"github.com/moatdns/moat/ipc"
	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/seccomp"
)

// Role is the helper's role name in moatd's role table.
const Role = seccomp.ScriptRole

// initOutputLimit bounds what the helper reads of "<script> init".
const initOutputLimit = 1 << 20

// Run is the helper's main; it returns the process exit code.
func Run(args []string) int {
	opts, err := seccomp.ParseScriptOptions(args)
	if err == nil {
		err = opts.Spec.Validate()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 2
	}
	status, err := seccomp.ConfineScript(opts.Spec)
	if err != nil {
		fmt.Fprintf(os.Stderr, "confine %s: %v\n", Role, err)
		return 1
	}
	conn := ipc.NewConn(os.NewFile(workerproc.IPCFD, "ipc"))
	defer conn.Close()
	if _, err := conn.Handshake(Role); err != nil {
		fmt.Fprintf(os.Stderr, "handshake: %v\n", err)
		return 1
	}
	ready := &ipcpb.Ready{Sandbox: workerproc.StatusMessage(status)}
	if err := conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_Ready{Ready: ready}}); err != nil {
		fmt.Fprintf(os.Stderr, "ready: %v\n", err)
		return 1
	}
	h := &Helper{Script: opts.Script, LogDHCP: opts.LogDHCP, Env: os.Environ(), Runner: Runner{Log: os.Stderr}}
	if err := h.Serve(conn); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		return 1
	}
	return 0
}

// Helper runs the script for each ScriptEvent read from the master.
type Helper struct {
	Script  string
	LogDHCP bool
	Env     []string // the base environment, the helper's own
	Runner  Runner
}

// Serve answers events until the master sends Shutdown or closes the
// connection. Anything else from the master is a protocol error.
func (h *Helper) Serve(conn *ipc.Conn) error {
	for {
		m, fds, err := conn.Recv()
		for _, fd := range fds {
			_ = os.NewFile(uintptr(fd), "").Close()
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("receive: %w", err)
		case m.GetShutdown() != nil:
			return nil
		case m.GetScriptEvent() == nil:
			return fmt.Errorf("unexpected %s from the master", ipc.MessageName(m))
		}
		done := h.Handle(m.GetScriptEvent())
		if err := conn.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_ScriptDone{ScriptDone: done}}); err != nil {
			return fmt.Errorf("send done: %w", err)
		}
	}
}

// Handle runs the script for one event.
func (h *Helper) Handle(ev *ipcpb.ScriptEvent) *ipcpb.ScriptDone {
	done := &ipcpb.ScriptDone{Seq: ev.GetSeq()}
	cmd, err := BuildCommand(h.Script, h.Env, h.LogDHCP, ev)
	if err != nil {
		done.ExitStatus, done.Error = -1, "not run: "+err.Error()
		return done
	}
	var res Result
	if ev.GetAction() == "init" {
		var out []byte
		out, res = h.Runner.RunInit(cmd, initOutputLimit)
		if n := countLines(out); n > 0 {
			fmt.Fprintf(h.Runner.Log, "dhcp-script init printed %d lease lines; moat keeps its own lease journal and does not load them\n", n)
		}
	} else {
		res = h.Runner.Run(cmd)
	}
	done.ExitStatus, done.Error = int32(res.ExitStatus), res.Err
	return done
}

func countLines(b []byte) int {
	n := 0
	for i, c := range b {
		if c == '\n' || i == len(b)-1 {
			n++
		}
	}
	return n
}
