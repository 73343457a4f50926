package promtext

import (
	"strings"
	"testing"
)

// TestParseRefuses: each input breaks one rule of the format and must be
// refused; the good one is read back exactly.
func TestParseRefuses(t *testing.T) {
	const good = "# HELP a_total Help with \\\\ and \\n.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 3\n" +
		"# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n"
	fams, err := Parse(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := fams["a_total"].Get(map[string]string{"x": "q\"\\\n"}); !ok || v != 3 || fams["a_total"].Help != "Help with \\ and \n." {
		t.Errorf("a_total: %+v", fams["a_total"])
	}
	for _, tc := range []struct{ name, text string }{
		{"sample before TYPE", "# HELP a_total x\na_total 1\n"},
		{"no HELP", "# TYPE a_total counter\na_total 1\n"},
		{"family twice", "# HELP a_total x\n# TYPE a_total counter\na_total 1\n# HELP a_total x\n# TYPE a_total counter\n"},
		{"counter without _total", "# HELP a x\n# TYPE a counter\na 1\n"},
		{"bad escape", "# HELP a_total x\n# TYPE a_total counter\na_total{x=\"\\t\"} 1\n"},
		{"unquoted label", "# HELP a_total x\n# TYPE a_total counter\na_total{x=1} 1\n"},
		{"timestamp", "# HELP a_total x\n# TYPE a_total counter\na_total 1 1700000000\n"},
		{"foreign sample", "# HELP a_total x\n# TYPE a_total counter\nb_total 1\n"},
		{"duplicate sample", "# HELP a_total x\n# TYPE a_total counter\na_total 1\na_total 2\n"},
		{"negative counter", "# HELP a_total x\n# TYPE a_total counter\na_total -1\n"},
		{"buckets not cumulative", "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"},
		{"count differs", "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n"},
		{"no +Inf", "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n"},
		{"empty line", "# HELP a_total x\n\n"},
		{"bad type", "# HELP a x\n# TYPE a thing\n"},
	} {
		if _, err := Parse(strings.NewReader(tc.text)); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
