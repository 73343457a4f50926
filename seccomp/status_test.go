package seccomp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseProcStatusFixtures(t *testing.T) {
	root, err := parseProcStatus(readFixture(t, "proc_status_root.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if root.uids != [4]uint32{} || root.capEff != 0x1fffeffffff || root.capBnd != 0x1fffeffffff || root.noNewPrivs || root.seccomp != 0 {
		t.Errorf("root fixture parsed as %+v", root)
	}
	conf, err := parseProcStatus(readFixture(t, "proc_status_confined.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := procStatus{uids: [4]uint32{65534, 65534, 65534, 65534}, gids: [4]uint32{65534, 65534, 65534, 65534}, noNewPrivs: true, seccomp: 2}
	if conf != want {
		t.Errorf("confined fixture parsed as %+v, want %+v", conf, want)
	}
}

func TestParseProcStatusRejects(t *testing.T) {
	good := string(readFixture(t, "proc_status_confined.txt"))
	for _, tc := range []struct {
		desc, from, to string
	}{
		{"missing Seccomp", "Seccomp:\t2\n", ""},
		{"missing CapBnd", "CapBnd:", "CapBnX:"},
		{"repeated NoNewPrivs", "NoNewPrivs:\t1\n", "NoNewPrivs:\t1\nNoNewPrivs:\t0\n"},
		{"bad hex", "CapEff:\t0000000000000000", "CapEff:\t00000000000000zz"},
		{"cap mask too long", "CapEff:\t0000000000000000", "CapEff:\t00000000000000000"},
		{"empty cap", "CapPrm:\t0000000000000000", "CapPrm:\t"},
		{"three uids", "Uid:\t65534\t65534\t65534\t65534", "Uid:\t65534\t65534\t65534"},
		{"negative uid", "Uid:\t65534", "Uid:\t-1"},
		{"NoNewPrivs 2", "NoNewPrivs:\t1", "NoNewPrivs:\t2"},
		{"Seccomp 4", "Seccomp:\t2\n", "Seccomp:\t4\n"},
	} {
		in := strings.Replace(good, tc.from, tc.to, 1)
		if in == good {
			t.Fatalf("%s: fixture has no %q", tc.desc, tc.from)
		}
		if st, err := parseProcStatus([]byte(in)); err == nil {
			t.Errorf("%s: parsed as %+v", tc.desc, st)
		}
	}
}

func TestVerify(t *testing.T) {
	confined, err := parseProcStatus(readFixture(t, "proc_status_confined.txt"))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := parseProcStatus(readFixture(t, "proc_status_root.txt"))
	switchSpec := Spec{Role: "dnsd", SwitchUser: true, UID: 65534, GID: 65534}
	usernsSpec := Spec{Role: "dnsd"}
	mod := func(f func(*procStatus)) procStatus {
		s := confined
		f(&s)
		return s
	}
	for _, tc := range []struct {
		desc string
		spec Spec
		st   procStatus
		want string // "" = ok
	}{
		{"confined", switchSpec, confined, ""},
		{"confined userns", usernsSpec, confined, ""},
		{"root unconfined", switchSpec, root, "CapEff"},
		{"effective cap left", switchSpec, mod(func(s *procStatus) { s.capEff = 1 << 21 }), "CapEff"},
		{"bounding cap left", usernsSpec, mod(func(s *procStatus) { s.capBnd = 1 }), "CapBnd"},
		{"ambient cap left", usernsSpec, mod(func(s *procStatus) { s.capAmb = 1 << 18 }), "CapAmb"},
		{"no no_new_privs", switchSpec, mod(func(s *procStatus) { s.noNewPrivs = false }), "NoNewPrivs"},
		{"strict mode", switchSpec, mod(func(s *procStatus) { s.seccomp = 1 }), "Seccomp:"},
		{"saved uid root", switchSpec, mod(func(s *procStatus) { s.uids[2] = 0 }), "uid[2]"},
		{"wrong gid", switchSpec, mod(func(s *procStatus) { s.gids[1] = 100 }), "gid[1]"},
		{"uid root in userns mode is not verify's business", usernsSpec, mod(func(s *procStatus) { s.uids = [4]uint32{} }), ""},
	} {
		err := verify(tc.spec, tc.st)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.desc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error about %s", tc.desc, err, tc.want)
		}
	}
}

func FuzzParseProcStatus(f *testing.F) {
	f.Add(readFixture(f, "proc_status_root.txt"))
	f.Add(readFixture(f, "proc_status_confined.txt"))
	f.Add([]byte("Uid:\t1\t2\t3\t4\nGid:\t1 2 3 4\nCapInh:\t0\nCapPrm:\tf\nCapEff:\tF\nCapBnd:\t1\nCapAmb:\t0\nNoNewPrivs:\t1\nSeccomp:\t2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseProcStatus(b)
		if err != nil {
			return
		}
		if st.seccomp > 2 {
			t.Fatalf("seccomp mode %d accepted", st.seccomp)
		}
		_ = verify(Spec{Role: "dnsd", SwitchUser: true, UID: 1, GID: 1}, st)
	})
}
