package seccomp

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// cloneNamespaceFlags are the clone flags that would make a new namespace.
// CLONE_NEWTIME (0x80) is left out: in clone(2) the low byte is the exit
// signal, and new time namespaces need clone3, which answers ENOSYS.
const cloneNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// promiseRuntime is what the Go runtime itself needs once it is running:
// memory, threads, signals (asynchronous preemption is tgkill + SIGURG +
// rt_sigreturn), futexes, the network poller, time, randomness, and the
// periodic GOMAXPROCS update (sched_getaffinity, pread64 of cgroup files
// opened at start-up). Several of these show up only after minutes; the
// soak test exists to find them.
var promiseRuntime = Promise{
	Name: "runtime",
	Why:  "Go runtime: memory, threads, signals, futexes, netpoller, time, randomness",
	Rules: concat(
		[]Rule{
			// No executable mappings: the runtime never makes any after
			// start-up, and refusing them removes the easy way to run
			// injected code.
			allow("mmap", argBitsClear(2, "PROT_EXEC clear", unix.PROT_EXEC)),
			allow("mprotect", argBitsClear(2, "PROT_EXEC clear", unix.PROT_EXEC)),
			// Threads only: CLONE_THREAD set and no namespace flags. A new
			// process (fork) is a clone without CLONE_THREAD, which is
			// killed. This, not RLIMIT_NPROC, is what stops new processes.
			allow("clone", argMaskedIn(0, unix.CLONE_THREAD|cloneNamespaceFlags,
				"CLONE_THREAD set, CLONE_NEW* clear", unix.CLONE_THREAD)),
			// Go never calls clone3; libraries that try it fall back to
			// clone on ENOSYS.
			fail("clone3", syscall.ENOSYS),
			// Go 1.25+ names its anonymous mappings ("[anon: Go: heap]").
			allow("prctl",
				argIn(0, "PR_SET_VMA", unix.PR_SET_VMA),
				argIn(1, "PR_SET_VMA_ANON_NAME", unix.PR_SET_VMA_ANON_NAME)),
			// Signals only to itself: preemption (tgkill SIGURG), raise and
			// crash paths (kill(getpid(), sig)).
			allow("tgkill", argSelfPID(0)),
			allow("kill", argSelfPID(0)),
			// The runtime asks for its own (thread's) affinity: pid 0.
			allow("sched_getaffinity", argIn(0, "0 (self)", 0)),
		},
		allowAll(
			"futex", "munmap", "madvise",
			"exit", "exit_group",
			"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
			"getpid", "gettid", "sched_yield",
			"nanosleep", "clock_gettime",
			"getrandom", "uname",
			"epoll_create1", "epoll_ctl", "epoll_pwait", "eventfd2",
			"pread64",
		),
	),
}

// promiseStdio is I/O on descriptors the worker already holds, plus the
// read-only identity queries OpenBSD's stdio promise also grants (logging
// code asks for them; they reveal nothing the worker does not know).
var promiseStdio = Promise{
	Name: "stdio",
	Why:  "read, write, close, stat and flags of descriptors already held; own ids",
	Rules: concat(
		allowAll("read", "write", "readv", "writev", "close", "fstat",
			"getuid", "geteuid", "getgid", "getegid", "getppid"),
		[]Rule{
			// os.NewFile, net.FileConn and the poller: dup with close-on-exec,
			// descriptor and status flags. Nothing else (no F_SETOWN, leases,
			// locks, pipe sizes).
			allow("fcntl", argIn(1, "F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL",
				unix.F_DUPFD, unix.F_DUPFD_CLOEXEC, unix.F_GETFD, unix.F_SETFD, unix.F_GETFL, unix.F_SETFL)),
			// io.Copy between two TCP connections tries splice(2) through a
			// pipe, then sendfile(2); when both answer ENOSYS, Go falls back
			// to plain read/write instead of the worker being killed.
			fail("pipe2", syscall.ENOSYS),
			fail("pipe", syscall.ENOSYS),
			fail("sendfile", syscall.ENOSYS),
		},
	),
}

// promiseNoFiles makes every path lookup fail as if the (empty) chroot had
// no such file, so a lazily loaded file (time zone, /etc/services, ...)
// fails cleanly instead of killing the worker.
var promiseNoFiles = Promise{
	Name: "nofiles",
	Why:  "file opens and path lookups answer ENOENT (workers open no files)",
	Rules: failAll(syscall.ENOENT,
		"open", "openat", "openat2", "creat",
		"stat", "lstat", "newfstatat", "statx",
		"access", "faccessat", "faccessat2",
		"readlink", "readlinkat",
		"getcwd", // os.Getwd, filepath.Abs
	),
}

// promiseRecvFD is the master channel: messages and the descriptors the
// master sends (SCM_RIGHTS), and datagrams with control messages
// (IP_PKTINFO) on the sockets held. A filter cannot look inside the
// msghdr, so unlike pledge's recvfd this does not stop a worker from
// sending a descriptor it holds; workers hold nothing the master lacks.
var promiseRecvFD = Promise{
	Name:  "recvfd",
	Why:   "sendmsg/recvmsg: IPC messages and descriptors from the master, control messages on sockets held",
	Rules: allowAll("sendmsg", "recvmsg"),
}

// promiseSockIO is I/O and introspection on sockets the worker holds.
var promiseSockIO = Promise{
	Name: "sockio",
	Why:  "datagram and stream I/O on sockets already held; their names and type",
	Rules: concat(
		allowAll("sendto", "recvfrom", "sendmmsg", "recvmmsg", "getsockname", "getpeername", "shutdown"),
		// net.FileConn reads SO_TYPE; a non-blocking connect reports
		// through SO_ERROR.
		sockopts("getsockopt", sockLevel{"SOL_SOCKET", unix.SOL_SOCKET, []named{
			{"SO_TYPE", unix.SO_TYPE}, {"SO_ERROR", unix.SO_ERROR},
			{"SO_DOMAIN", unix.SO_DOMAIN}, {"SO_PROTOCOL", unix.SO_PROTOCOL},
			{"SO_RCVBUF", unix.SO_RCVBUF}, {"SO_SNDBUF", unix.SO_SNDBUF},
		}}),
	),
}

func concat(lists ...[]Rule) []Rule {
	var out []Rule
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
