package leasestore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatdns/moat/internal/leases"
	"github.com/moatdns/moat/internal/testutil"
)

// The crash test re-executes the test binary as a child that commits
// leases until the parent kills it with SIGKILL.
const (
	crashChildEnv = "LEASESTORE_CRASH_CHILD" // the store's directory
	crashRoundEnv = "LEASESTORE_CRASH_ROUND"
	crashWorkers  = 8
	crashMaxOps   = 32 * 256 // per worker and round: the address space of opRecords
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
		os.Exit(crashChild(dir, round))
	}
	os.Exit(m.Run())
}

// crashOptions are the child's: small compactions and a fast leases file
// rewrite, so that kills land in the middle of those too.
func crashOptions(dir string) Options {
	return Options{
		LeaseFile:       filepath.Join(dir, "leases"),
		CompactMinBytes: 16 << 10,
		FileInterval:    5 * time.Millisecond,
	}
}

// crashChild commits the ops of its round from crashWorkers goroutines,
// printing "begin r w i" before each commit and "ack r w i" once it
// returned nil. One write per line: a pipe write that small is atomic, so
// the parent sees whole lines.
func crashChild(dir string, round int) int {
	s, err := Open(crashOptions(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	os.Stdout.WriteString("ready\n")
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range crashMaxOps {
				os.Stdout.WriteString(fmt.Sprintf("begin %d %d %d\n", round, w, i))
				if err := s.Commit(context.Background(), opRecords(round, w, i)); err != nil {
					fmt.Fprintln(os.Stderr, "commit:", err)
					os.Exit(3)
				}
				os.Stdout.WriteString(fmt.Sprintf("ack %d %d %d\n", round, w, i))
			}
		}()
	}
	wg.Wait()
	os.Stdout.WriteString("done\n")
	time.Sleep(time.Minute) // the parent kills it
	return 0
}

// opLease is the lease that op i of worker w in a round puts.
func opLease(round, w, i int) leases.Lease {
	l := leases.Lease{
		Addr:     netip.AddrFrom4([4]byte{10, byte(round), byte(w*32 + i/256), byte(i)}),
		HWType:   leases.HWEthernet,
		HWAddr:   []byte{2, byte(round), byte(w), byte(i >> 8), byte(i), 0},
		Hostname: fmt.Sprintf("r%dw%di%d", round, w, i),
		Expires:  far + int64(i),
	}
	if i%2 == 1 {
		l.ClientID = append([]byte{1}, l.HWAddr...)
	}
	return l
}

// opRecords is op i of worker w: mostly a new lease; every tenth op
// (from i%10) 7 releases the lease of op i-3, 8 renews the lease of op
// i-2, and 9 moves the lease of op i-9 to a new address in one batch.
func opRecords(round, w, i int) []leases.Record {
	switch i % 10 {
	case 7:
		return []leases.Record{leases.DeleteRecord(opLease(round, w, i-3).Addr)}
	case 8:
		l := opLease(round, w, i-2)
		l.Expires += 1000
		l.Hostname += "-renewed"
		return []leases.Record{leases.PutRecord(l)}
	case 9:
		moved := opLease(round, w, i-9)
		moved.Addr = opLease(round, w, i).Addr
		return []leases.Record{leases.DeleteRecord(opLease(round, w, i-9).Addr), leases.PutRecord(moved)}
	}
	return []leases.Record{leases.PutRecord(opLease(round, w, i))}
}

// crashModel is what the parent knows must be in the store.
type crashModel map[netip.Addr]leases.Lease

func (m crashModel) apply(recs []leases.Record) {
	for _, r := range recs {
		if r.Delete {
			delete(m, r.Lease.Addr)
		} else {
			m[r.Lease.Addr] = r.Lease
		}
	}
}

// TestCrashKill9: the child is killed with SIGKILL at random moments,
// round after round. After each kill the store must open (the torn tail
// cut cleanly) with every acknowledged change in it; an op that had begun
// but not been acknowledged may be there whole or not at all, never in
// part (its batch is journalled as one); nothing else may be.
func TestCrashKill9(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 8
	}
	dir := t.TempDir()
	model := crashModel{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	deadline := time.Now().Add(2 * time.Minute)
	var torn, midCompaction, totalAcks int
	for round := 1; round <= rounds && time.Now().Before(deadline); round++ {
		lines, stderr := runCrashChild(t, dir, round, time.Duration(10+rng.IntN(250))*time.Millisecond)
		inFlight := map[int][]leases.Record{} // per worker
		acks := 0
		for _, line := range lines {
			var kind string
			var r, w, i int
			if _, err := fmt.Sscanf(line, "%s %d %d %d", &kind, &r, &w, &i); err != nil || r != round {
				continue // ready, done
			}
			switch kind {
			case "begin":
				inFlight[w] = opRecords(r, w, i)
			case "ack":
				model.apply(inFlight[w])
				delete(inFlight, w)
				acks++
			}
		}
		totalAcks += acks
		if _, err := os.Stat(filepath.Join(dir, "leases.journal.tmp")); err == nil {
			midCompaction++
		}
		// A process kill completes the write it interrupts; a power loss
		// need not. Every other round, add what such a loss leaves: the
		// first part of a record that was being written.
		var cut int64
		if round%2 == 0 {
			cut = tearJournal(t, filepath.Join(dir, "leases.journal"), rng)
		}
		s, err := Open(Options{LeaseFile: filepath.Join(dir, "leases"), Logf: t.Logf})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v\nchild stderr: %s", round, err, stderr)
		}
		if got := s.Recovery().TornBytes; got < cut {
			t.Errorf("round %d: %d torn bytes cut, want at least the %d added", round, got, cut)
		} else if got > cut {
			torn++
		}
		checkCrashState(t, round, s, model, inFlight)
		// The journal as left on disk is whole: cut at the last record.
		if _, res := replayFile(t, s.JournalPath()); res.Torn != 0 {
			t.Errorf("round %d: journal still torn after Open: %+v", round, res)
		}
		// The leases file may lag, but is always a whole file.
		if data, err := os.ReadFile(filepath.Join(dir, "leases")); err == nil {
			if _, bad, err := leases.ReadFile(bytes.NewReader(data)); err != nil || len(bad) != 0 {
				t.Errorf("round %d: leases file damaged: %v %v", round, bad, err)
			}
		}
		// What the reopened store holds is now durable: adopt it.
		for k := range model {
			delete(model, k)
		}
		for _, l := range s.Leases() {
			model[l.Addr] = l
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.Fatalf("round %d failed; child stderr: %s", round, stderr)
		}
	}
	t.Logf("%d acknowledged commits over the rounds; %d kills tore a record themselves; %d kills left a compaction half done; %d leases at the end",
		totalAcks, torn, midCompaction, len(model))
	if totalAcks == 0 {
		t.Error("the child never acknowledged a commit")
	}
}

// runCrashChild starts the child for a round, kills it with SIGKILL
// after it has been committing for life, and returns its output lines.
func runCrashChild(t *testing.T, dir string, round int, life time.Duration) ([]string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	ready := make(chan struct{})
	var lines []string
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
			}
			lines = append(lines, sc.Text())
		}
	}()
	select {
	case <-ready:
	case <-readDone:
		cmd.Wait()
		killed = true
		t.Fatalf("round %d: child exited before it was ready: %s", round, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("round %d: child not ready: %s", round, stderr.String())
	}
	time.Sleep(life)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-readDone
	err = cmd.Wait()
	killed = true
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("round %d: child ended by itself (%v): %s", round, err, stderr.String())
	}
	return lines, stderr.String()
}

// checkCrashState compares the reopened store with the model: every
// address must hold what the acknowledged ops left, except the addresses
// of in-flight ops, which may hold the state before or after the whole op.
func checkCrashState(t *testing.T, round int, s *Store, model crashModel, inFlight map[int][]leases.Record) {
	t.Helper()
	got := crashModel{}
	for _, l := range s.Leases() {
		got[l.Addr] = l
	}
	flying := map[netip.Addr]bool{}
	for w, recs := range inFlight {
		for _, r := range recs {
			flying[r.Lease.Addr] = true
		}
		matched := false
		for _, j := range []int{0, len(recs)} {
			if matched {
				break
			}
			want := crashModel{}
			for _, r := range recs {
				if l, ok := model[r.Lease.Addr]; ok {
					want[r.Lease.Addr] = l
				}
			}
			want.apply(recs[:j])
			matched = true
			for _, r := range recs {
				a := r.Lease.Addr
				wl, wok := want[a]
				gl, gok := got[a]
				if wok != gok || (wok && !wl.Equal(gl)) {
					matched = false
				}
			}
		}
		if !matched {
			t.Errorf("round %d: worker %d's unacknowledged op %+v is there in part", round, w, recs)
		}
	}
	for a, want := range model {
		if flying[a] {
			continue
		}
		if l, ok := got[a]; !ok {
			t.Errorf("round %d: acknowledged lease %v (%s) lost", round, a, want.Hostname)
		} else if !l.Equal(want) {
			t.Errorf("round %d: lease %v is %+v, acknowledged %+v", round, a, l, want)
		}
	}
	for a, l := range got {
		if _, ok := model[a]; !ok && !flying[a] {
			t.Errorf("round %d: lease %v (%s) was never committed", round, a, l.Hostname)
		}
	}
}

// tearJournal appends what a write cut short by a power loss leaves,
// and returns its length: the first part of a record, or (every other
// time) of a batch of three, cut anywhere after its marker, so that
// whole records of an unfinished batch are on disk. None of it may come
// back.
func tearJournal(t *testing.T, path string, rng *rand.Rand) int64 {
	t.Helper()
	i := rng.IntN(crashMaxOps - 2)
	recs := []leases.Record{leases.PutRecord(opLease(255, 0, i))}
	if rng.IntN(2) == 0 {
		recs = append(recs, leases.PutRecord(opLease(255, 0, i+1)), leases.PutRecord(opLease(255, 0, i+2)))
	}
	enc, err := leases.AppendBatch(nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	from := 1
	if len(recs) > 1 {
		from = 13 // past the marker (8 bytes of header, 5 of payload)
	}
	part := enc[:from+rng.IntN(len(enc)-from)]
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(part); err != nil {
		t.Fatal(err)
	}
	return int64(len(part))
}
