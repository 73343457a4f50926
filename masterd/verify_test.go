package masterd

import (
	"strings"
	"testing"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

const confinedStatus = `Name:	moatd-dnsd
Uid:	65534	65534	65534	65534
Gid:	65534	65534	65534	65534
CapInh:	0000000000000000
CapPrm:	0000000000000000
CapEff:	0000000000000000
CapBnd:	0000000000000000
CapAmb:	0000000000000000
NoNewPrivs:	1
Seccomp:	2
Seccomp_filters:	1
`

func TestParseProcStatus(t *testing.T) {
	s, err := parseProcStatus([]byte(confinedStatus))
	if err != nil {
		t.Fatal(err)
	}
	if s.GetUid() != 65534 || s.GetGid() != 65534 || !s.GetNoNewPrivs() || s.GetSeccompMode() != 2 || s.GetCapBnd() != 0 {
		t.Errorf("parsed %v", s)
	}
	if _, err := parseProcStatus([]byte("Name:\tx\nUid:\t1 1 1 1\n")); err == nil {
		t.Error("a status without the capability fields parsed")
	}
	// A saved uid of 0 is as bad as a real one.
	s, err = parseProcStatus([]byte(strings.Replace(confinedStatus, "Uid:\t65534\t65534\t65534", "Uid:\t65534\t65534\t0", 1)))
	if err != nil || s.GetUid() != 0 {
		t.Errorf("saved uid 0: uid %d, err %v", s.GetUid(), err)
	}
}

func TestSandboxCheck(t *testing.T) {
	good := func() *ipcpb.SandboxStatus {
		return &ipcpb.SandboxStatus{Uid: 65534, Gid: 65534, NoNewPrivs: true, SeccompMode: 2}
	}
	root := sandboxPlan{root: true, uid: 65534, gid: 65534}
	cases := []struct {
		name   string
		mutate func(*ipcpb.SandboxStatus)
		want   string
	}{
		{"confined", func(*ipcpb.SandboxStatus) {}, ""},
		{"effective caps", func(s *ipcpb.SandboxStatus) { s.CapEff = 1 << 21 }, "capabilities left"},
		{"bounding set", func(s *ipcpb.SandboxStatus) { s.CapBnd = 1 }, "capabilities left"},
		{"ambient", func(s *ipcpb.SandboxStatus) { s.CapAmb = 1 }, "capabilities left"},
		{"no nnp", func(s *ipcpb.SandboxStatus) { s.NoNewPrivs = false }, "no_new_privs"},
		{"strict seccomp", func(s *ipcpb.SandboxStatus) { s.SeccompMode = 1 }, "seccomp mode 1"},
		{"no seccomp", func(s *ipcpb.SandboxStatus) { s.SeccompMode = 0 }, "seccomp mode 0"},
		{"wrong user", func(s *ipcpb.SandboxStatus) { s.Uid = 1000 }, "uid 1000"},
		{"root", func(s *ipcpb.SandboxStatus) { s.Uid = 0 }, "uid 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			c.mutate(s)
			err := root.check(s)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("check = %v, want %q", err, c.want)
			}
		})
	}
}
