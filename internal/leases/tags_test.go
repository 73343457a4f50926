package leases

import "testing"

func TestMatchTags(t *testing.T) {
	set := NewTagSet("lan", "known", "eth0")
	for _, tc := range []struct {
		filter       []string
		tagNotNeeded bool
		want         bool
	}{
		{nil, false, false},
		{nil, true, true},
		{[]string{"lan"}, false, true},
		{[]string{"lan", "known"}, false, true},
		{[]string{"lan", "wifi"}, true, false},
		{[]string{"!wifi"}, false, true},
		{[]string{"!known"}, true, false},
		{[]string{"#known"}, true, false}, // '#' is dnsmasq's old '!'
		{[]string{"eth*"}, false, false},  // no wildcards outside tag-if
	} {
		if got := MatchTags(tc.filter, set, tc.tagNotNeeded); got != tc.want {
			t.Errorf("MatchTags(%q, %v) = %v", tc.filter, tc.tagNotNeeded, got)
		}
	}
	for _, tc := range []struct {
		filter []string
		want   bool
	}{
		{nil, true},
		{[]string{"eth*"}, true},
		{[]string{"ppp*"}, false},
		{[]string{"!ppp*"}, true},
		{[]string{"!eth*"}, false},
		{[]string{"lan", "!wifi"}, true},
	} {
		if got := MatchTagsWild(tc.filter, set); got != tc.want {
			t.Errorf("MatchTagsWild(%q) = %v", tc.filter, got)
		}
	}
}

func TestRunTagIf(t *testing.T) {
	set := NewTagSet("ppp0")
	RunTagIf([]TagIf{
		{Set: []string{"b"}, If: []string{"a"}},      // a not set yet: no
		{Set: []string{"a"}, If: []string{"ppp*"}},   // yes
		{Set: []string{"c", "d"}, If: []string{"a"}}, // sees a
		{Set: []string{"always"}},
		{Set: []string{"never"}, If: []string{"!c"}},
	}, set)
	for tag, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true, "always": true, "never": false} {
		if set[tag] != want {
			t.Errorf("%s = %v", tag, set[tag])
		}
	}
}
