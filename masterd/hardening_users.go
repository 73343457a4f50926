package masterd

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"

	"github.com/moatdns/moat/internal/config"
)

// Per-role users (DESIGN.md section 1, issue 7): with the master root,
// dnsd runs as dns-user and dhcpd as dhcp-user (each defaulting to
// user=, itself defaulting to nobody), so that a compromised dnsd cannot
// signal, ptrace or kill dhcpd, nor the other way round: both are then
// different uids, and neither is dumpable. A master that is not root
// cannot switch users; the options are then ignored, and the uid-switch
// line of the hardening log says so once.

// workerRoles are the roles that get a user of their own, in start order.
var workerRoles = []string{"dnsd", "dhcpd"}

// roleUser is the account one worker role runs as.
type roleUser struct {
	role   string
	name   string // as configured
	option string // the option that named it: dns-user, dhcp-user or user
	uid    int    // -1 when not resolved (HardeningLayers on a name that does not resolve)
	gid    int
}

// lookupAccount resolves name and, when set, group (else name's primary
// group). Workers never run as uid or gid 0.
func lookupAccount(name, group string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("uid %q gid %q are not numbers", u.Uid, u.Gid)
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return 0, 0, fmt.Errorf("group %s: %w", group, err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return 0, 0, fmt.Errorf("group %s: gid %q is not a number", group, g.Gid)
		}
	}
	if uid == 0 || gid == 0 {
		return 0, 0, fmt.Errorf("uid %d gid %d: workers must not run as root or group 0", uid, gid)
	}
	return uid, gid, nil
}

// lookupRoleUsers resolves every worker role's user at start; a user
// that does not exist is a configuration error naming the option.
func lookupRoleUsers(cfg *config.Config) (map[string]roleUser, error) {
	out := make(map[string]roleUser, len(workerRoles))
	for _, role := range workerRoles {
		name, option := cfg.RoleUser(role)
		uid, gid, err := lookupAccount(name, cfg.Group)
		if err != nil {
			return nil, fmt.Errorf("%s=%s (the %s user): %w", option, name, role, err)
		}
		out[role] = roleUser{role: role, name: name, option: option, uid: uid, gid: gid}
	}
	return out, nil
}

// forRole is the plan for one role: its own uid and gid when the master
// resolved one for it (root), else the plan as it is.
func (p sandboxPlan) forRole(role string) sandboxPlan {
	if u, ok := p.roles[role]; ok {
		p.uid, p.gid = u.uid, u.gid
	}
	return p
}

// probeRoleUsers fills the inputs' per-role users for the hardening
// lines: in root mode each role that runs, resolved where it can be; in
// the other modes the dns-user/dhcp-user options that are set, which
// cannot apply.
func (in *hardeningInputs) probeRoleUsers(cfg *config.Config) {
	for _, role := range workerRoles {
		if role == "dnsd" && cfg.Port == 0 || role == "dhcpd" && !cfg.DHCP.Enabled() {
			continue
		}
		name, option := cfg.RoleUser(role)
		if !in.root {
			if option != "user" {
				in.ignoredRoleUsers = append(in.ignoredRoleUsers, option+"="+name)
			}
			continue
		}
		u := roleUser{role: role, name: name, option: option, uid: -1, gid: -1}
		if uid, gid, err := lookupAccount(name, cfg.Group); err == nil {
			u.uid, u.gid = uid, gid
		}
		in.roleUsers = append(in.roleUsers, u)
	}
}

// uidSwitchDetail says who each worker runs as (root mode): "dnsd as
// moatd-dns (uid 998, dns-user), dhcpd as moatd-dhcp (uid 997,
// dhcp-user)", and warns when two roles share a uid.
func (in hardeningInputs) uidSwitchDetail() string {
	if len(in.roleUsers) == 0 {
		return "workers switch to user " + in.workerUser
	}
	var parts []string
	byUID := map[int][]string{}
	for _, u := range in.roleUsers {
		uid := "uid unknown"
		if u.uid >= 0 {
			uid = "uid " + strconv.Itoa(u.uid)
			byUID[u.uid] = append(byUID[u.uid], u.role)
		}
		parts = append(parts, fmt.Sprintf("%s as %s (%s, %s)", u.role, u.name, uid, u.option))
	}
	detail := "workers switch to their users: " + strings.Join(parts, ", ")
	for _, u := range in.roleUsers {
		if roles := byUID[u.uid]; len(roles) > 1 {
			detail += "; " + strings.Join(roles, " and ") + " share uid " + strconv.Itoa(u.uid) + " (set dns-user and dhcp-user to separate them)"
			break
		}
	}
	return detail
}

// uidSwitchMissing is the uid-switch detail when the master is not root.
func (in hardeningInputs) uidSwitchMissing() string {
	detail := "the master is not root: workers keep uid " + strconv.Itoa(in.uid) + " (no per-role user); they are not dumpable, so other processes of that uid cannot ptrace them"
	if len(in.ignoredRoleUsers) > 0 {
		detail += "; ignored: " + strings.Join(in.ignoredRoleUsers, ", ")
	}
	return detail
}
