package masterd

import (
	"bytes"
	"github.com/moatdns/moat/internal/testutil"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ipcpb "github.com/moatdns/moat/ipc/proto"
	"github.com/moatdns/moat/seccomp"
)

// policyDoc is the checked-in output of moatd --print-policy.
var policyDoc = filepath.Join("..", "docs", "policy.md")

// TestPolicyDocUpToDate fails when the code's policy and docs/policy.md
// disagree: the document is what auditors read.
func TestPolicyDocUpToDate(t *testing.T) {
	if seccomp.ArchName() != "amd64" {
		testutil.Unavailable(t, "docs/policy.md lists amd64 call numbers; this is "+seccomp.ArchName())
	}
	var got bytes.Buffer
	if err := printPolicy(&got); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(policyDoc)
	if err != nil {
		t.Fatalf("read %s: %v (run `make docs`)", policyDoc, err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("docs/policy.md is stale: run `make docs` (moatd --print-policy > docs/policy.md). First difference, line %d:\ncode: %s\nfile: %s", i+1, g, w)
			}
		}
	}
}

// TestPolicyDescriptorsCoverKinds: every socket kind the master can send
// is documented for exactly one role, so a new kind cannot reach a worker
// without docs/policy.md saying which.
func TestPolicyDescriptorsCoverKinds(t *testing.T) {
	count := map[string]int{}
	for _, ds := range roleDescriptors {
		for _, d := range ds {
			count[d.what]++
		}
	}
	for v := range ipcpb.Socket_Kind_name {
		k := ipcpb.Socket_Kind(v)
		if k == ipcpb.Socket_KIND_UNSPECIFIED {
			continue
		}
		if n := count["socket kind "+socketKindName(k)]; n != 1 {
			t.Errorf("socket kind %s documented for %d roles, want 1", k, n)
		}
	}
	for _, role := range append(seccomp.Roles(), seccomp.ScriptRole) {
		if _, ok := roleDescriptors[role]; !ok {
			t.Errorf("role %s has no descriptor list", role)
		}
	}
}

func TestPrintPolicyMain(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		want     bool
		code     int
		inOut    string
		inStderr string
	}{
		{[]string{"--print-policy"}, true, 0, "## dnsd", ""},
		{[]string{"--print-policy", "--user=x"}, true, 2, "", "takes no other options"},
		{[]string{"--test"}, false, 0, "", ""},
	} {
		if got := wantPrintPolicy(tc.args); got != tc.want {
			t.Errorf("wantPrintPolicy(%q) = %v", tc.args, got)
		}
		if !tc.want {
			continue
		}
		var out, errs bytes.Buffer
		if code := printPolicyMain(tc.args, &out, &errs); code != tc.code {
			t.Errorf("%q: exit %d, want %d", tc.args, code, tc.code)
		}
		if !strings.Contains(out.String(), tc.inOut) || !strings.Contains(errs.String(), tc.inStderr) {
			t.Errorf("%q: stdout %.80q stderr %q", tc.args, out.String(), errs.String())
		}
	}
}

// TestCheckRoleSockets: the spawner hands a role only the socket kinds its
// descriptor list (docs/policy.md) names.
func TestCheckRoleSockets(t *testing.T) {
	sock := func(k ipcpb.Socket_Kind) openSocket { return openSocket{desc: &ipcpb.Socket{Kind: k}} }
	for _, tc := range []struct {
		role    string
		sockets []openSocket
		ok      bool
	}{
		{"dnsd", nil, true},
		{"dnsd", []openSocket{sock(ipcpb.Socket_KIND_DNS_UDP), sock(ipcpb.Socket_KIND_DNS_TCP), sock(ipcpb.Socket_KIND_BPF_UPSTREAM_PROG)}, true},
		{"dhcpd", []openSocket{sock(ipcpb.Socket_KIND_DHCP_UDP), sock(ipcpb.Socket_KIND_DHCP_PACKET), sock(ipcpb.Socket_KIND_DHCP_ROUTED), sock(ipcpb.Socket_KIND_ICMP)}, true},
		{"dnsd", []openSocket{sock(ipcpb.Socket_KIND_DNS_UDP), sock(ipcpb.Socket_KIND_ICMP)}, false},
		{"dhcpd", []openSocket{sock(ipcpb.Socket_KIND_DNS_TCP)}, false},
		{"dhcpd", []openSocket{sock(ipcpb.Socket_KIND_BPF_EXPECT_MAP)}, false},
		{seccomp.ScriptRole, []openSocket{sock(ipcpb.Socket_KIND_DHCP_UDP)}, false},
		{"dnsd", []openSocket{sock(ipcpb.Socket_KIND_UNSPECIFIED)}, false},
	} {
		err := checkRoleSockets(tc.role, tc.sockets)
		if (err == nil) != tc.ok {
			t.Errorf("%s %v: err = %v, want ok=%v", tc.role, tc.sockets, err, tc.ok)
		}
	}
}
