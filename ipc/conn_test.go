package ipc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

func TestSamplesCoverEveryMessage(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range sampleMessages() {
		seen[MessageName(m)] = true
	}
	od := (&ipcpb.Envelope{}).ProtoReflect().Descriptor().Oneofs().ByName("msg")
	for i := 0; i < od.Fields().Len(); i++ {
		if name := string(od.Fields().Get(i).Name()); !seen[name] {
			t.Errorf("sampleMessages has no %s; add one so round trip and fuzz seeds cover it", name)
		}
	}
}

func TestRoundTripEveryMessage(t *testing.T) {
	a, b := newConnPair(t)
	for _, m := range sampleMessages() {
		t.Run(MessageName(m), func(t *testing.T) {
			var fds []int
			for range wantFDs(m) {
				_, w := newPipe(t)
				fds = append(fds, fdOf(t, w))
			}
			if err := a.Send(m, fds...); err != nil {
				t.Fatal(err)
			}
			got, gotFDs, err := b.Recv()
			if err != nil {
				t.Fatal(err)
			}
			closeFDs(gotFDs)
			if !proto.Equal(got, m) {
				t.Errorf("received %v, sent %v", got, m)
			}
			if len(gotFDs) != len(fds) {
				t.Errorf("received %d descriptors, sent %d", len(gotFDs), len(fds))
			}
		})
	}
}

// TestDescriptorsPass writes through received copies of pipe write ends
// and reads the bytes back from the pipes.
func TestDescriptorsPass(t *testing.T) {
	a, b := newConnPair(t)
	const n = 3
	var readers []*os.File
	var fds []int
	set := &ipcpb.SocketSet{}
	for range n {
		r, w := newPipe(t)
		readers = append(readers, r)
		fds = append(fds, fdOf(t, w))
		set.Sockets = append(set.Sockets, &ipcpb.Socket{Kind: ipcpb.Socket_KIND_DNS_UDP})
	}
	if err := a.Send(&ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketSet{SocketSet: set}}, fds...); err != nil {
		t.Fatal(err)
	}
	_, got, err := b.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("received %d descriptors, want %d", len(got), n)
	}
	for i, fd := range got {
		if fd == fds[i] {
			t.Errorf("descriptor %d came back with the sender's number %d; not a fresh copy", i, fd)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("received descriptor %d: FD_CLOEXEC not set (flags %#x, err %v)", fd, flags, err)
		}
		msg := []byte(fmt.Sprintf("through copy %d", i))
		if _, err := unix.Write(fd, msg); err != nil {
			t.Fatalf("write through received descriptor: %v", err)
		}
		unix.Close(fd)
		buf := make([]byte, 64)
		readers[i].SetReadDeadline(time.Now().Add(testWait))
		k, err := readers[i].Read(buf)
		if err != nil || !bytes.Equal(buf[:k], msg) {
			t.Errorf("pipe %d read %q, %v; want %q", i, buf[:k], err, msg)
		}
	}
}

func TestSendRefuses(t *testing.T) {
	a, _ := newConnPair(t)
	_, w := newPipe(t)
	wfd := fdOf(t, w)
	big := strings.Repeat("x", maxTextLen)
	var notes []string
	for range maxNotes {
		notes = append(notes, big)
	}
	// 64 notes of 4 KiB: valid field by field, 256 KiB in all.
	oversize := &ipcpb.Envelope{Msg: &ipcpb.Envelope_SandboxStatus{SandboxStatus: &ipcpb.SandboxStatus{Notes: notes}}}
	tooManyFDs := make([]int, MaxFDs+1)
	for i := range tooManyFDs {
		tooManyFDs[i] = wfd
	}
	sockets := func(n int) *ipcpb.Envelope {
		set := &ipcpb.SocketSet{}
		for range n {
			set.Sockets = append(set.Sockets, &ipcpb.Socket{Kind: ipcpb.Socket_KIND_ICMP})
		}
		return &ipcpb.Envelope{Msg: &ipcpb.Envelope_SocketSet{SocketSet: set}}
	}
	hello := &ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{Hello: &ipcpb.Hello{Version: 1, Role: "dnsd"}}}
	tests := []struct {
		name string
		m    *ipcpb.Envelope
		fds  []int
		want error
	}{
		{"over MaxMessageSize", oversize, nil, ErrTooLarge},
		{"more than MaxFDs", sockets(MaxFDs), tooManyFDs, ErrTooManyFDs},
		{"socket set over MaxFDs", sockets(MaxFDs + 1), tooManyFDs, ErrInvalid},
		{"descriptors on a hello", hello, []int{wfd}, ErrTooManyFDs},
		{"fewer descriptors than sockets", sockets(2), []int{wfd}, ErrTooManyFDs},
		{"empty envelope", &ipcpb.Envelope{}, nil, ErrInvalid},
		{"nil inner message", &ipcpb.Envelope{Msg: &ipcpb.Envelope_Hello{}}, nil, ErrInvalid},
		{"invalid host entry", &ipcpb.Envelope{Msg: &ipcpb.Envelope_TableItem{TableItem: &ipcpb.TableItem{
			Hosts: []*ipcpb.HostEntry{{Address: []byte{1, 2, 3}, Names: []string{"x"}}}}}}, nil, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Send(tt.m, tt.fds...); !errors.Is(err, tt.want) {
				t.Errorf("Send = %v, want %v", err, tt.want)
			}
		})
	}
	// The raw descriptor cap, apart from message validation.
	if err := a.sendValidated(sockets(MaxFDs+1), tooManyFDs); !errors.Is(err, ErrTooManyFDs) {
		t.Errorf("sendValidated with %d fds = %v, want ErrTooManyFDs", MaxFDs+1, err)
	}
}

// TestRecvRejectsAndRecovers sends one bad datagram and then a valid one:
// Recv must fail on the first, close any descriptors with it, and return
// the second intact.
func TestRecvRejectsAndRecovers(t *testing.T) {
	hello, err := proto.Marshal(sampleMessages()[0])
	if err != nil {
		t.Fatal(err)
	}
	repeat := func(fd, n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = fd
		}
		return out
	}
	tests := []struct {
		name    string
		payload []byte
		nfds    int // copies of a pipe write end sent along
		want    error
	}{
		{"datagram of MaxMessageSize+1", bytes.Repeat([]byte{0}, MaxMessageSize+1), 0, ErrTooLarge},
		{"datagram far over the cap, with fds", bytes.Repeat([]byte{0}, MaxMessageSize+4096), 2, ErrTooLarge},
		{"control data truncated", hello, MaxFDs + 5, ErrTruncated},
		{"one descriptor over MaxFDs", hello, MaxFDs + 1, ErrTooManyFDs},
		{"descriptor on a hello", hello, 1, ErrTooManyFDs},
		{"garbage bytes with fds", []byte{0xff, 0xff, 0xff}, 1, ErrInvalid},
		{"empty datagram with fds", nil, 1, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newConnPair(t)
			r, w := newPipe(t)
			if len(tt.payload) == 0 {
				rawSendEmpty(t, a, repeat(fdOf(t, w), tt.nfds)...)
			} else {
				rawSend(t, a, tt.payload, repeat(fdOf(t, w), tt.nfds)...)
			}
			want := sampleMessages()[7] // shutdown
			if err := a.Send(want); err != nil {
				t.Fatal(err)
			}
			m, fds, err := b.Recv()
			if !errors.Is(err, tt.want) {
				closeFDs(fds)
				t.Fatalf("Recv = %v, %d fds, %v; want error %v", m, len(fds), err, tt.want)
			}
			t.Logf("Recv error: %v", err)
			if fds != nil {
				t.Errorf("Recv returned descriptors with an error: %v", fds)
			}
			if tt.nfds > 0 {
				assertNoWriterLeft(t, r, w)
			}
			got, _, err := b.Recv()
			if err != nil || !proto.Equal(got, want) {
				t.Errorf("next Recv = %v, %v; want %v", got, err, want)
			}
		})
	}
}

func TestRecvEOFAfterPeerClose(t *testing.T) {
	a, b := newConnPair(t)
	if err := a.Send(sampleMessages()[0]); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if _, _, err := b.Recv(); err != nil {
		t.Fatalf("message queued before close: %v", err)
	}
	for range 2 {
		if m, _, err := b.Recv(); err != io.EOF {
			t.Fatalf("Recv after peer close = %v, %v; want io.EOF", m, err)
		}
	}
	if err := b.Send(sampleMessages()[0]); err == nil {
		t.Error("Send to a closed peer succeeded")
	}
}

func TestCloseInterruptsRecv(t *testing.T) {
	for _, blocking := range []bool{false, true} {
		t.Run(fmt.Sprintf("inherited blocking=%v", blocking), func(t *testing.T) {
			_, b := newConnPair(t)
			if blocking {
				b = blockingCopy(t, b)
			}
			done := make(chan error, 1)
			go func() {
				_, _, err := b.Recv()
				done <- err
			}()
			b.Close()
			select {
			case err := <-done:
				if !errors.Is(err, os.ErrClosed) {
					t.Errorf("Recv after Close = %v, want os.ErrClosed", err)
				}
			case <-time.After(testWait):
				t.Fatal("Recv still blocked after Close")
			}
		})
	}
}

// blockingCopy turns b's end into what a worker inherits as fd 3 when the
// descriptor is in blocking mode: an os.File the poller does not handle.
func blockingCopy(t *testing.T, b *Conn) *Conn {
	t.Helper()
	var dup int
	rawFD(t, b, func(fd int) {
		var err error
		if dup, err = unix.Dup(fd); err != nil {
			t.Fatal(err)
		}
	})
	b.Close()
	if err := unix.SetNonblock(dup, false); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "fd3")
	if err := f.SetDeadline(time.Time{}); err == nil {
		t.Fatal("test setup: a blocking descriptor landed in the poller anyway")
	}
	c := NewConn(f)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBlockingInheritedEndWorks(t *testing.T) {
	a, b := newConnPair(t)
	b = blockingCopy(t, b)
	if err := b.SetDeadline(time.Time{}); err != nil {
		t.Errorf("deadline on the converted end: %v", err)
	}
	for _, m := range sampleMessages()[:2] {
		if err := a.Send(m); err != nil {
			t.Fatal(err)
		}
		if got, _, err := b.Recv(); err != nil || !proto.Equal(got, m) {
			t.Fatalf("Recv = %v, %v; want %v", got, err, m)
		}
		if err := b.Send(m); err != nil {
			t.Fatal(err)
		}
		if got, _, err := a.Recv(); err != nil || !proto.Equal(got, m) {
			t.Fatalf("reply Recv = %v, %v; want %v", got, err, m)
		}
	}
}

func TestReadDeadline(t *testing.T) {
	_, b := newConnPair(t)
	if err := b.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Recv past deadline = %v, want os.ErrDeadlineExceeded", err)
	}
}

func TestNewConnRejectsOtherSockets(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, peer := NewConn(os.NewFile(uintptr(fds[0]), "stream")), os.NewFile(uintptr(fds[1]), "peer")
	defer c.Close()
	defer peer.Close()
	err = c.Send(sampleMessages()[0])
	if err == nil || !strings.Contains(err.Error(), "SOCK_SEQPACKET") {
		t.Errorf("Send on a SOCK_STREAM socket = %v, want an error naming SOCK_SEQPACKET", err)
	}
	if _, _, err := c.Recv(); err == nil {
		t.Error("Recv on a SOCK_STREAM socket succeeded")
	}
}

// TestConcurrentSend: many goroutines send at once (run with -race); every
// message arrives whole and each sender's messages stay in order.
func TestConcurrentSend(t *testing.T) {
	a, b := newConnPair(t)
	const senders, perSender = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				m := &ipcpb.Envelope{Msg: &ipcpb.Envelope_ProbeResult{ProbeResult: &ipcpb.ProbeResult{
					Probe: fmt.Sprintf("g%d", g), Detail: fmt.Sprint(i),
				}}}
				if err := a.Send(m); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	next := map[string]int{}
	b.SetReadDeadline(time.Now().Add(testWait))
	for range senders * perSender {
		m, _, err := b.Recv()
		if err != nil {
			t.Fatal(err)
		}
		p := m.GetProbeResult()
		if want := fmt.Sprint(next[p.GetProbe()]); p.GetDetail() != want {
			t.Fatalf("%s: message %s arrived, want %s", p.GetProbe(), p.GetDetail(), want)
		}
		next[p.GetProbe()]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(next) != senders {
		t.Errorf("heard from %d senders, want %d", len(next), senders)
	}
}
