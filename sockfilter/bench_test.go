package sockfilter

import (
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestConnectedSocketSeesOnlyPeer shows why the upstream filter keeps no
// map of upstream addresses (DESIGN.md section 5 asks for one): dnsd's
// query sockets are connected, and the kernel delivers a connected UDP
// socket only what comes from its peer, before any filter runs.
func TestConnectedSocketSeesOnlyPeer(t *testing.T) {
	needRoot(t)
	o, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	p := newPair(t, "127.0.0.1", true)
	if err := AttachProgram(p.fd(t), o.Upstream.FD()); err != nil {
		t.Fatal(err)
	}
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for range 10 {
		if _, err := other.WriteToUDP(dnsPacket(40, 1, true), p.recv.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	got := p.exchange(t, nil, dnsPacket(40, 2, true))
	if len(got) != 0 {
		t.Fatalf("a connected socket received %d datagrams from another port", len(got))
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{UpstreamPassed: 1}); st != want {
		t.Errorf("counters %v, want %v: the filter saw datagrams the socket never gets", &st, &want)
	}
}

// BenchmarkQuerySocket is what dnsd's miss path pays per query socket:
// socket, bind, connect and close, plain and with each filter (the eBPF
// one with its map update).
func BenchmarkQuerySocket(b *testing.B) {
	var o *Objects
	if unix.Geteuid() == 0 {
		var err error
		if o, err = Load(); err != nil {
			b.Fatal(err)
		}
		defer o.Close()
	}
	classic := MustClassic(ClassicUpstream())
	peer := &unix.SockaddrInet4{Port: 53, Addr: [4]byte{127, 0, 0, 1}}
	for _, mode := range []string{"none", "classic", "ebpf"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "ebpf" && o == nil {
				b.Skip("loading eBPF needs root")
			}
			for i := range b.N {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				switch mode {
				case "classic":
					err = classic.Attach(fd)
				case "ebpf":
					if e := AttachProgramRaw(fd, o.Upstream.FD()); e != 0 {
						err = e
					}
				}
				if err == nil {
					err = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
				}
				if err == nil {
					err = unix.Connect(fd, peer)
				}
				if err == nil && mode == "ebpf" {
					if e := ExpectRaw(o.Expect.FD(), ExpectKey(uint16(1024+i%60000), false), uint16(i)); e != 0 {
						err = e
					}
				}
				unix.Close(fd)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJunkFlood measures what a flood of forged replies (wrong ID)
// at a query port costs the receiving process: a thread blocked in
// recv(2) on the query socket, as dnsd's reader is, and its CPU time per
// junk datagram (recv-ns/op). With the eBPF filter the thread never
// wakes; with classic BPF (no ID check) or none it reads every datagram.
func BenchmarkJunkFlood(b *testing.B) {
	var o *Objects
	if unix.Geteuid() == 0 {
		var err error
		if o, err = Load(); err != nil {
			b.Fatal(err)
		}
		defer o.Close()
	}
	for _, mode := range []string{"none", "classic", "ebpf"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "ebpf" && o == nil {
				b.Skip("loading eBPF needs root")
			}
			benchFlood(b, mode, o)
		})
	}
}

func benchFlood(b *testing.B, mode string, o *Objects) {
	lo := [4]byte{127, 0, 0, 1}
	send, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(send)
	if err := unix.Bind(send, &unix.SockaddrInet4{Addr: lo}); err != nil {
		b.Fatal(err)
	}
	sendSA, _ := unix.Getsockname(send)
	recv, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0) // blocking
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(recv)
	_ = unix.SetsockoptInt(recv, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	switch mode {
	case "classic":
		err = MustClassic(ClassicUpstream()).Attach(recv)
	case "ebpf":
		err = AttachProgram(recv, o.Upstream.FD())
	}
	if err == nil {
		err = unix.Bind(recv, &unix.SockaddrInet4{Addr: lo})
	}
	if err == nil {
		err = unix.Connect(recv, sendSA)
	}
	if err != nil {
		b.Fatal(err)
	}
	recvSA, _ := unix.Getsockname(recv)
	port := recvSA.(*unix.SockaddrInet4).Port
	if mode == "ebpf" {
		if e := ExpectRaw(o.Expect.FD(), ExpectKey(uint16(port), false), 1); e != 0 {
			b.Fatal(e)
		}
	}
	junk := make([]byte, 64)
	junk[0], junk[1], junk[2] = 0x12, 0x34, 0x80 // a reply, ID 0x1234
	marker := make([]byte, 64)
	marker[1], marker[2], marker[3] = 1, 0x80, 0xff // the expected ID 1: the end
	type result struct {
		cpu   time.Duration
		reads int
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		buf := make([]byte, 512)
		reads := 0
		var t0, t1 unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t0) // the thread may have run before
		for {
			n, err := unix.Read(recv, buf)
			if err != nil || n >= 4 && buf[3] == 0xff {
				break
			}
			reads++
		}
		_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &t1)
		done <- result{time.Duration(t1.Nano() - t0.Nano()), reads}
	}()
	to := &unix.SockaddrInet4{Port: port, Addr: lo}
	b.ResetTimer()
	for i := range b.N {
		if err := unix.Sendto(send, junk, 0, to); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			runtime.Gosched() // let the reader keep up rather than overflow
		}
	}
	if err := unix.Sendto(send, marker, 0, to); err != nil {
		b.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		b.Fatal("the marker never arrived")
	}
	b.StopTimer()
	b.ReportMetric(float64(r.cpu.Nanoseconds())/float64(b.N), "recv-ns/op")
	b.ReportMetric(float64(r.reads)/float64(b.N), "reads/op")
}
