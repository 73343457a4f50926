// Package procs owns what the benchmark tools read from /proc about the
// servers they start: a process's children and its stat fields.
package procs

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// StatFields are /proc/pid/stat's fields after the command name: state,
// ppid, ... (field 3 of proc(5) is index 0); nil if pid is gone.
func StatFields(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(data[i+1:]))
}

// Children are the processes whose parent is pid (moatd's workers).
func Children(pid int) []int {
	parent := strconv.Itoa(pid)
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := StatFields(child); len(f) > 1 && f[1] == parent {
			out = append(out, child)
		}
	}
	return out
}
