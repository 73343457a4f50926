package scriptd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Limits of what the helper reads back from a script.
const (
	maxOutputLine = 1024 // longer lines are cut in the log
	// outputGrace: a script that leaves a background process holding its
	// stdout is not waited for beyond this after it exits.
	outputGrace = 2 * time.Second
)

// Result is how one run of the script ended.
type Result struct {
	ExitStatus int    // the exit status; -1 when killed or not started
	Err        string // "" on exit status 0
	Lines      int    // lines of output logged
}

// Runner runs commands one at a time with stdin on /dev/null and every
// line of stdout and stderr logged to Log with "script: " in front, as
// dnsmasq captures its script's output for its log. No descriptor other
// than 0, 1 and 2 reaches the script (os/exec sets close-on-exec on
// everything else, the IPC socket included).
type Runner struct {
	Log io.Writer
}

// Run executes cmd and waits for it. dnsmasq gives the script no time
// limit, and neither does the helper: the next event waits.
func (r *Runner) Run(cmd Command) Result {
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{ExitStatus: -1, Err: fmt.Sprintf("pipe for the script's output: %v", err)}
	}
	c := &exec.Cmd{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: "/", Stdout: pw, Stderr: pw}
	// Its own process group: a terminal signal meant for moatd is not the
	// script's, and the script's children stay together.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	startErr := c.Start()
	pw.Close()
	lines := make(chan int, 1)
	go func() { lines <- r.copyLines(pr) }()
	if startErr != nil {
		pr.Close()
		<-lines
		return Result{ExitStatus: -1, Err: fmt.Sprintf("failed to execute %s: %v", cmd.Path, unwrapExec(startErr))}
	}
	waitErr := c.Wait()
	res := Result{}
	select {
	case res.Lines = <-lines:
	case <-time.After(outputGrace):
		// A background child still holds the pipe; its later lines are
		// still logged, by the copier, until it closes it.
	}
	res.ExitStatus, res.Err = exitStatus(waitErr)
	return res
}

// copyLines logs each line from rd and closes it.
func (r *Runner) copyLines(rd io.ReadCloser) int {
	defer rd.Close()
	br := bufio.NewReaderSize(rd, maxOutputLine)
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		cut := errors.Is(err, bufio.ErrBufferFull)
		if len(line) > 0 {
			n++
			s := string(line)
			if s[len(s)-1] == '\n' {
				s = s[:len(s)-1]
			}
			if cut {
				s += " [line cut]"
			}
			fmt.Fprintf(r.Log, "script: %s\n", s)
		}
		for cut {
			_, err = br.ReadSlice('\n')
			cut = errors.Is(err, bufio.ErrBufferFull)
		}
		if err != nil {
			return n
		}
	}
}

// RunInit runs "<script> init" (leasefile-ro) and returns its standard
// output, at most limit bytes; stderr is logged.
func (r *Runner) RunInit(cmd Command, limit int64) ([]byte, Result) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, Result{ExitStatus: -1, Err: fmt.Sprintf("pipe for the script's output: %v", err)}
	}
	c := &exec.Cmd{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: "/", Stderr: pw}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.WaitDelay = outputGrace
	stdout, err := c.StdoutPipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return nil, Result{ExitStatus: -1, Err: err.Error()}
	}
	startErr := c.Start()
	pw.Close()
	lines := make(chan int, 1)
	go func() { lines <- r.copyLines(pr) }()
	if startErr != nil {
		pr.Close()
		<-lines
		return nil, Result{ExitStatus: -1, Err: fmt.Sprintf("failed to execute %s: %v", cmd.Path, unwrapExec(startErr))}
	}
	out, _ := io.ReadAll(io.LimitReader(stdout, limit))
	_, _ = io.Copy(io.Discard, stdout) // let the script finish writing
	res := Result{}
	res.ExitStatus, res.Err = exitStatus(c.Wait())
	select {
	case res.Lines = <-lines:
	case <-time.After(outputGrace):
	}
	return out, res
}

func exitStatus(err error) (int, string) {
	if err == nil {
		return 0, ""
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, fmt.Sprintf("script process killed by signal %d", ws.Signal())
		}
		return ee.ExitCode(), fmt.Sprintf("script process exited with status %d", ee.ExitCode())
	}
	return -1, err.Error()
}

// unwrapExec keeps the system's reason (ENOENT, EACCES) without
// os/exec's repetition of the path.
func unwrapExec(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
