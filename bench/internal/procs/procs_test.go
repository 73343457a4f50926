package procs

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
)

func TestChildrenAndStatFields(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if kids := Children(os.Getpid()); !slices.Contains(kids, cmd.Process.Pid) {
		t.Errorf("children of the test %v lack sleep's pid %d", kids, cmd.Process.Pid)
	}
	if f := StatFields(cmd.Process.Pid); len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
		t.Errorf("stat fields %v: want the test as parent", f)
	}
	if f := StatFields(-1); f != nil {
		t.Errorf("no such process: %v", f)
	}
}
