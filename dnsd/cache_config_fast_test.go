package dnsd

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// fastPathOff lists the DNSConfig fields (80 and up) that do turn the
// fast path off when set: the answer may depend on the client. Every
// field numbered 80 or more must be in this list or in fastPathNeutral,
// so that a new option is a decision, not an accident (socket-filter=,
// set on every configuration, once turned the fast path off for all).
// (none today: every such field so far is neutral.)
var fastPathOff = map[protoreflect.FieldNumber]bool{}

func TestFastPathFieldsDecided(t *testing.T) {
	fields := (&ipcpb.DNSConfig{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if n := fd.Number(); n >= 80 && !fastPathNeutral[n] && !fastPathOff[n] {
			t.Errorf("DNSConfig field %d (%s) is in neither fastPathNeutral nor fastPathOff", n, fd.Name())
		}
	}
}

func TestFastPathAllowed(t *testing.T) {
	tests := []struct {
		name string
		dc   *ipcpb.DNSConfig
		want bool
	}{
		{"plain", &ipcpb.DNSConfig{}, true},
		{"socket filter set, as the master always does", &ipcpb.DNSConfig{SocketFilter: "auto"}, true},
		{"log-queries", &ipcpb.DNSConfig{LogQueries: true}, false},
	}
	for _, tt := range tests {
		if got := fastPathAllowed(tt.dc); got != tt.want {
			t.Errorf("%s: fastPathAllowed = %v, want %v", tt.name, got, tt.want)
		}
	}
}
