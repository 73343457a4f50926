package masterd

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// readyFDEnv names, in a daemonized master's environment, the descriptor on
// which it reports start-up success ("ok") or its error to the parent that
// started it.
const readyFDEnv = "MOATD_READY_FD"

// daemonize does what dnsmasq's fork does, the Go way: start this binary
// again in a new session with stdio on /dev/null, and exit once it reports
// that every worker is ready, or fail with its error.
func daemonize(args []string) int {
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "moatd: daemonize: %v\n", err)
		return 1
	}
	// The daemon gets the very command line it was given, argv[0]
	// included, so that ps and pgrep -f show what they show for
	// dnsmasq (libvirt and NetworkManager look for their instances
	// that way); readyFDEnv alone keeps it from forking again.
	cmd := exec.Command(selfExe, args...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "moatd: daemonize: %v\n", err)
		return 1
	}
	w.Close()
	msg, _ := io.ReadAll(io.LimitReader(r, 4096))
	r.Close()
	if strings.TrimSpace(string(msg)) == "ok" {
		_ = cmd.Process.Release()
		return 0
	}
	_ = cmd.Wait()
	if len(msg) == 0 {
		msg = []byte("the daemon exited during start-up")
	}
	fmt.Fprintf(os.Stderr, "moatd: %s\n", strings.TrimSpace(string(msg)))
	return 1
}

// readyNotifier tells the parent of a daemonized master how start-up went.
// Outside daemon mode it does nothing.
type readyNotifier struct {
	f *os.File
}

func daemonReadyNotifier() *readyNotifier {
	fd, err := strconv.Atoi(os.Getenv(readyFDEnv))
	os.Unsetenv(readyFDEnv)
	if err != nil || fd < 3 {
		return &readyNotifier{}
	}
	syscall.CloseOnExec(fd)
	return &readyNotifier{f: os.NewFile(uintptr(fd), "ready")}
}

func (n *readyNotifier) ok() { n.send("ok") }

func (n *readyNotifier) fail(err error) { n.send(err.Error()) }

func (n *readyNotifier) send(msg string) {
	if n.f == nil {
		return
	}
	_, _ = n.f.WriteString(msg + "\n")
	_ = n.f.Close()
	n.f = nil
}
