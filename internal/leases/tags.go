package leases

import "strings"

// TagSet is the set of tags of one DHCP exchange (the interface name, the
// range's set:, dhcp-host set:, vendor and user classes, dhcp-match, ...).
type TagSet map[string]bool

// NewTagSet returns a set holding tags.
func NewTagSet(tags ...string) TagSet {
	s := TagSet{}
	for _, t := range tags {
		s[t] = true
	}
	return s
}

// MatchTags reports whether a tag filter (tag:<tag> words: "x" must be
// set, "!x" must not be) holds for set, as dnsmasq's match_netid does. An
// empty filter matches only when tagNotNeeded: dnsmasq first looks for an
// entry whose tags match (tagged entries win) and only then accepts
// untagged ones.
func MatchTags(filter []string, set TagSet, tagNotNeeded bool) bool {
	if len(filter) == 0 {
		return tagNotNeeded
	}
	for _, t := range filter {
		if neg, ok := negated(t); ok {
			if set[neg] {
				return false
			}
		} else if !set[t] {
			return false
		}
	}
	return true
}

// negated strips the '!' (or, for backwards compatibility, '#') of a
// "not set" filter.
func negated(t string) (string, bool) {
	if t != "" && (t[0] == '!' || t[0] == '#') {
		return t[1:], true
	}
	return t, false
}

// MatchTagsWild is MatchTags for tag-if: a filter tag ending in '*'
// matches any set tag that starts with the rest ("tag:ppp*"), and an
// empty filter always matches.
func MatchTagsWild(filter []string, set TagSet) bool {
	for _, t := range filter {
		name, neg := negated(t)
		found := false
		if prefix, wild := strings.CutSuffix(name, "*"); wild {
			for s := range set {
				if strings.HasPrefix(s, prefix) {
					found = true
					break
				}
			}
		} else {
			found = set[name]
		}
		if found == neg {
			return false
		}
	}
	return true
}

// TagIf is one tag-if line: when all of If hold, every tag of Set is set.
type TagIf struct {
	Set []string
	If  []string
}

// RunTagIf applies tag-if lines in order, as dnsmasq's run_tag_if: a line
// sees the tags set by the lines before it.
func RunTagIf(rules []TagIf, set TagSet) {
	for _, r := range rules {
		if MatchTagsWild(r.If, set) {
			for _, t := range r.Set {
				set[t] = true
			}
		}
	}
}
