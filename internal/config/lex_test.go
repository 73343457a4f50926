package config

import "testing"

// TestLexLine: dnsmasq's line rules. Cases marked "dnsmasq" were checked
// with dnsmasq 2.90 --test.
func TestLexLine(t *testing.T) {
	tests := []struct {
		line, want string
		err        bool
	}{
		{"port=53", "port=53", false},
		{"  port = 53  ", "port = 53", false},
		{"\tport\t=\t53\r", "port = 53", false},
		{"# comment", "", false},
		{"   # comment", "", false},
		{"port=53 # comment", "port=53", false},
		{"port=53\t# comment", "port=53", false},
		{"port=53#c", "port=53#c", false},     // dnsmasq: not a comment
		{`port="53"`, "port=53", false},       // dnsmasq: OK
		{`port="5"3`, "port=53", false},       // dnsmasq: OK
		{`port= "53"#x`, "port= 53", false},   // dnsmasq: OK, '#' after "space, quote" is a comment
		{`port="53"#x`, "port=53#x", false},   // dnsmasq: error (not a comment)
		{`port=53 "#x"`, "port=53 #x", false}, // dnsmasq: error, '#' inside quotes is text
		{`port="5""3"`, "", true},             // dnsmasq: missing "
		{`port="53`, "", true},                // dnsmasq: missing "
		{`x="a\"b\\c\td\ne\rf\bg\eh\qi"`, "x=a\"b\\c\td\ne\rf\bg\033h\\qi", false},
		{`x="a b"  `, "x=a b", false},
		{`x=" a "`, "x= a ", false},
		{`"no-hosts"`, "no-hosts", false}, // dnsmasq: OK
		{"", "", false},
		{"\x0b\x0c", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, quoted, err := lexLine(tt.line)
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error=%v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("lexLine(%q) = %q, want %q", tt.line, got, tt.want)
			}
			if quoted != nil && len(quoted) != len(got) {
				t.Errorf("quoted mask has %d entries for %d bytes", len(quoted), len(got))
			}
		})
	}
}

func TestSplitKeepsQuotedCommas(t *testing.T) {
	text, quoted, err := lexLine(`interface="a,b" , c,"d e",`)
	if err != nil {
		t.Fatal(err)
	}
	name, v := splitOption(text, quoted)
	if name != "interface" {
		t.Fatalf("name %q", name)
	}
	var got []string
	for _, part := range v.split(',') {
		got = append(got, part.text)
	}
	if want := []string{"a,b", "c", "d e", ""}; !equalStrings(got, want) {
		t.Errorf("split = %q, want %q", got, want)
	}
}

func TestSplitOption(t *testing.T) {
	tests := []struct {
		text, name, val string
		given           bool
	}{
		{"port=53", "port", "53", true},
		{"port = 53", "port", "53", true},
		{"port==53", "port", "=53", true},
		{"port=", "port", "", true},
		{"no-hosts", "no-hosts", "", false},
		{"pid-file=/a=b", "pid-file", "/a=b", true},
	}
	for _, tt := range tests {
		name, v := splitOption(tt.text, nil)
		if name != tt.name || v.text != tt.val || v.given != tt.given {
			t.Errorf("splitOption(%q) = %q, %+v; want %q, %q, %v", tt.text, name, v, tt.name, tt.val, tt.given)
		}
	}
}
