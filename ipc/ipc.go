// Package ipc owns the master<->worker channel: SOCK_SEQPACKET socketpairs
// carrying one protobuf Envelope per datagram, descriptors passed with
// SCM_RIGHTS, the version handshake, the per-message size cap, validation of
// every received message, and BEGIN/items/END streaming of tables too large
// for one message.
//
// Both ends treat every received byte as untrusted: Recv rejects oversized,
// truncated, undecodable or invalid datagrams (closing any descriptors that
// came with them), and every error it returns other than io.EOF or
// os.ErrClosed means the peer broke the protocol.
//
// The code is split by topic: conn.go (socketpair, Send, Recv), decode.go and
// validate.go (Decode and the context-free invariants), handshake.go and
// stream.go (SendHosts, TableAssembler).
package ipc

import "errors"

// Version is the protocol version both sides send in Hello.
const Version = 1

// MaxMessageSize caps one encoded Envelope. Larger payloads are streamed.
const MaxMessageSize = 64 << 10

// MaxFDs caps the descriptors accepted with one message.
const MaxFDs = 32

// Sentinel errors, for errors.Is. The returned errors wrap them with
// context (which message, which field, which sizes).
var (
	// ErrTooLarge: a message over MaxMessageSize, sent or received.
	ErrTooLarge = errors.New("message too large")
	// ErrTooManyFDs: more than MaxFDs descriptors, or a descriptor count
	// that does not match the message.
	ErrTooManyFDs = errors.New("wrong number of descriptors")
	// ErrTruncated: the kernel truncated the datagram or its control data.
	ErrTruncated = errors.New("datagram truncated")
	// ErrInvalid: bytes that do not decode, or a message that breaks an
	// invariant checked by Decode.
	ErrInvalid = errors.New("invalid message")
	// ErrUnexpected: a valid message where another kind was required.
	ErrUnexpected = errors.New("unexpected message")
	// ErrVersionMismatch: the peer's Hello carries another Version.
	ErrVersionMismatch = errors.New("protocol version mismatch")
	// ErrRoleMismatch: the peer's Hello names another role.
	ErrRoleMismatch = errors.New("role mismatch")
	// ErrStream: a TableBegin/TableItem/TableEnd out of sequence or over a cap.
	ErrStream = errors.New("table stream error")
	// ErrAbandoned: a TableBegin arrived while another table was still being
	// assembled; the old one is dropped and the new one continues.
	ErrAbandoned = errors.New("table stream abandoned by a new begin")
)
