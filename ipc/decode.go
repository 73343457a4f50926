package ipc

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	ipcpb "github.com/moatdns/moat/ipc/proto"
)

// unmarshalOptions: unknown fields are kept (not discarded) so that
// Validate can reject them -- both ends run the same binary, so a field this
// build does not know is corruption or an attack, not a newer peer. The
// recursion limit is far above the schema's depth of four.
var unmarshalOptions = proto.UnmarshalOptions{DiscardUnknown: false, RecursionLimit: 16}

// Decode parses one datagram's bytes, enforcing the size cap, and checks
// the result with Validate.
func Decode(b []byte) (*ipcpb.Envelope, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("decode: %d bytes, cap %d: %w", len(b), MaxMessageSize, ErrTooLarge)
	}
	m := new(ipcpb.Envelope)
	if err := unmarshalOptions.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decode: %w: %w", err, ErrInvalid)
	}
	if err := Validate(m); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return m, nil
}

// messageName names the message an Envelope carries ("table_item"), for
// errors and logs.
func messageName(m *ipcpb.Envelope) string {
	if m == nil {
		return "nil envelope"
	}
	r := m.ProtoReflect()
	od := r.Descriptor().Oneofs().ByName("msg")
	fd := r.WhichOneof(od)
	if fd == nil {
		return "empty envelope"
	}
	return string(fd.Name())
}

// MessageName names the message an Envelope carries, as in the .proto
// ("hello", "table_item"); "empty envelope" when none is set.
func MessageName(m *ipcpb.Envelope) string { return messageName(m) }
