package cluster

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// The wire format of the signals one node sends another. One NATS message
// is a batch:
//
//	version      1 byte (wireVersion)
//	from inc     8 bytes, little endian: the sender's incarnation
//	to inc       8 bytes: the receiver's incarnation as the sender knows
//	             it, 0 when it does not know it yet
//	from node    uvarint length, name
//	signals      until the end of the message
//
// and one signal is
//
//	kind         1 byte (transport.SignalKind)
//	from         PID: uvarint length + node, uvarint length + host, uvarint id
//	to           uvarint length + host, uvarint id (the node is the receiver)
//	message:     uvarint length + topic, value (value.AppendBinary),
//	             uvarint receipt number (0: no receipt asked)
//	monitor:     uvarint length + notice topic (0: no notice), value if any
//	exit, link-exit: value, error
//	cancel:      uvarint length + reason
//	taken:       uvarint number (not 0): the highest of the receiver's
//	             messages to the sender that the sender has taken
//
// A control signal (reset 0xF0, bye 0xF1, lost 0xF2) is its kind byte
// alone. A part (0xF3) carries a piece of a batch too big for one NATS
// message (see parts.go):
//
//	part         kind 0xF3, uvarint total (bytes of the signals it is a
//	             piece of: 1 to MaxSignal), uvarint offset (where this
//	             piece starts in them), uvarint length (at least 1) + bytes
//
// Reassembled, the pieces are signals as above, parts excepted. A group
// signal (0xF4) is its kind byte and uvarint length + bytes (at least
// one) that the transport hands to its GroupHandler unread (groups.go).
//
// An error is a tag byte: 0 none, 1 terminated, 2 noproc, 3 noconnection,
// 4 link down (PID, then the linked process's error), 5 any other (text).
// Errors other than the runtime's own cross as text (*RemoteError).
//
// Every byte from a peer is hostile: the decoder checks every length
// against the bytes left, nests link-down reasons at most maxErrDepth deep,
// validates PIDs and topics, and returns an error instead of panicking.

const (
	wireVersion = 5         // 2: a monitor carries a notice; 3: receipts (a message's number, taken); 4: parts of big batches; 5: group signals
	headerFixed = 1 + 8 + 8 // version, from inc, to inc
	maxErrDepth = 16
)

const (
	errNone byte = iota
	errTerminated
	errNoProc
	errNoConnection
	errLinkDown
	errText
)

// appendHeader starts a batch from node (incarnation inc) to a node whose
// incarnation is toInc.
func appendHeader(b []byte, node string, inc, toInc uint64) []byte {
	b = append(b, wireVersion)
	b = binary.LittleEndian.AppendUint64(b, inc)
	b = binary.LittleEndian.AppendUint64(b, toInc)
	return appendString(b, node)
}

// setHeaderToInc rewrites the receiver's incarnation of a batch.
func setHeaderToInc(batch []byte, toInc uint64) {
	binary.LittleEndian.PutUint64(batch[9:17], toInc)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendPID(b []byte, p pid.PID) []byte {
	b = appendString(b, p.Node)
	b = appendString(b, p.Host)
	return binary.AppendUvarint(b, p.ID)
}

// control reports whether k is a control signal of the batch stream
// (reset, bye, lost), which is its kind byte alone.
func control(k transport.SignalKind) bool { return k == kindReset || k == kindBye || k == kindLost }

// appendPart appends a part: the n = len(piece) bytes at offset off of
// total bytes of signals.
func appendPart(b []byte, total, off int, piece []byte) []byte {
	b = append(b, byte(kindPart))
	b = binary.AppendUvarint(b, uint64(total))
	b = binary.AppendUvarint(b, uint64(off))
	b = binary.AppendUvarint(b, uint64(len(piece)))
	return append(b, piece...)
}

// partOverhead is the most bytes a part adds to its piece: the kind and
// three varints.
const partOverhead = 1 + 3*binary.MaxVarintLen64

// appendSignal appends the encoding of s.
func appendSignal(b []byte, s transport.Signal) []byte {
	b = append(b, byte(s.Kind))
	if control(s.Kind) {
		return b
	}
	if s.Kind == kindGroup {
		return appendString(b, s.Reason)
	}
	b = appendPID(b, s.From)
	b = appendString(b, s.To.Host)
	b = binary.AppendUvarint(b, s.To.ID)
	switch s.Kind {
	case transport.SigMessage:
		b = appendString(b, s.Topic)
		b = value.AppendBinary(b, s.Payload)
		b = binary.AppendUvarint(b, s.Seq)
	case transport.SigTaken:
		b = binary.AppendUvarint(b, s.Seq)
	case transport.SigMonitor: // the watcher's notice: empty topic for none
		b = appendString(b, s.Topic)
		if s.Topic != "" {
			b = value.AppendBinary(b, s.Payload)
		}
	case transport.SigExit, transport.SigLinkExit:
		b = value.AppendBinary(b, s.Result.Value)
		b = appendError(b, s.Result.Err, 0)
	case transport.SigCancel:
		b = appendString(b, s.Reason)
	}
	return b
}

func appendError(b []byte, err error, depth int) []byte {
	var ld *process.LinkDownError
	switch {
	case err == nil:
		return append(b, errNone)
	case errors.As(err, &ld) && depth < maxErrDepth-1:
		b = appendPID(append(b, errLinkDown), ld.PID)
		return appendError(b, ld.Reason, depth+1)
	case errors.Is(err, process.ErrNoConnection):
		return append(b, errNoConnection)
	case errors.Is(err, process.ErrNoProc):
		return append(b, errNoProc)
	case errors.Is(err, process.ErrTerminated):
		return append(b, errTerminated)
	}
	return appendString(append(b, errText), err.Error())
}

// RemoteError is the exit reason of a process of another node that ended
// with an error of its own (not one of the runtime's): its text crosses
// the wire, its type does not.
type RemoteError struct {
	Text string
}

func (e *RemoteError) Error() string { return e.Text }

// header is the start of a batch.
type header struct {
	fromInc, toInc uint64
	from           string
}

// reader decodes a batch. Its methods record the first error and return
// zero values afterwards, so decoding code reads straight through.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = &WireError{Offset: r.off, Msg: msg}
	}
}

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

func (r *reader) byte1(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("input ends before the " + what)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) uint64le(what string) uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 8 {
		r.fail("input ends inside the " + what)
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint in the " + what)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) str(what string) string {
	n := r.uvarint(what + " length")
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail(what + " length " + strconv.FormatUint(n, 10) + " is more than the " + strconv.Itoa(len(r.b)-r.off) + " byte(s) left")
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

func (r *reader) value(what string) value.Value {
	if r.err != nil {
		return value.Nil()
	}
	v, n, err := value.ReadBinary(r.b[r.off:])
	if err != nil {
		r.fail(what + ": " + err.Error())
		return value.Nil()
	}
	r.off += n
	return v
}

// pid reads a PID; the zero PID is allowed, anything else must be valid.
func (r *reader) pid(what string) pid.PID {
	p := pid.PID{Node: r.str(what + " node"), Host: r.str(what + " host"), ID: r.uvarint(what + " id")}
	if r.err != nil || p.IsZero() {
		return pid.PID{}
	}
	if p.Node != "" {
		if err := pid.ValidNodeName(p.Node); err != nil {
			r.fail(what + ": " + err.Error())
		}
	}
	if err := pid.ValidHostName(p.Host); err != nil {
		r.fail(what + ": " + err.Error())
	}
	if p.ID == 0 {
		r.fail(what + ": id 0")
	}
	return p
}

func (r *reader) error(depth int) error {
	switch tag := r.byte1("error tag"); tag {
	case errNone:
		return nil
	case errTerminated:
		return process.ErrTerminated
	case errNoProc:
		return process.ErrNoProc
	case errNoConnection:
		return process.ErrNoConnection
	case errLinkDown:
		if depth >= maxErrDepth {
			r.fail("link-down reasons nested deeper than " + strconv.Itoa(maxErrDepth))
			return nil
		}
		p := r.pid("linked PID")
		reason := r.error(depth + 1)
		if r.err != nil {
			return nil
		}
		return &process.LinkDownError{PID: p, Reason: reason}
	case errText:
		return &RemoteError{Text: r.str("error text")}
	default:
		r.fail("unknown error tag " + strconv.Itoa(int(tag)))
		return nil
	}
}

func (r *reader) header() header {
	if v := r.byte1("version"); r.err == nil && v != wireVersion {
		r.fail("unknown wire version " + strconv.Itoa(int(v)))
	}
	h := header{fromInc: r.uint64le("sender incarnation"), toInc: r.uint64le("receiver incarnation")}
	h.from = r.str("sender node")
	if r.err == nil {
		if err := pid.ValidNodeName(h.from); err != nil {
			r.fail("sender: " + err.Error())
		}
	}
	return h
}

// signal reads one signal for a process of node.
func (r *reader) signal(node string) transport.Signal {
	s := transport.Signal{Kind: transport.SignalKind(r.byte1("signal kind"))}
	if control(s.Kind) {
		return s
	}
	if s.Kind == kindGroup {
		if s.Reason = r.str("group data"); r.err == nil && s.Reason == "" {
			r.fail("empty group data")
		}
		return s
	}
	s.From = r.pid("sender PID")
	s.To = pid.PID{Node: node, Host: r.str("receiver host"), ID: r.uvarint("receiver id")}
	if r.err != nil {
		return s
	}
	if err := pid.ValidHostName(s.To.Host); err != nil || s.To.ID == 0 {
		r.fail("receiver PID {" + s.To.Host + "|" + strconv.FormatUint(s.To.ID, 10) + "} is not valid")
		return s
	}
	switch s.Kind {
	case transport.SigMessage:
		if s.Topic = r.str("topic"); r.err == nil && s.Topic == "" {
			r.fail("empty topic")
		}
		s.Payload = r.value("payload")
		s.Seq = r.uvarint("receipt number")
	case transport.SigTaken:
		if s.Seq = r.uvarint("taken number"); r.err == nil && s.Seq == 0 {
			r.fail("taken number 0")
		}
	case transport.SigExit, transport.SigLinkExit:
		s.Result.Value = r.value("result value")
		s.Result.Err = r.error(0)
	case transport.SigCancel:
		s.Reason = r.str("cancel reason")
	case transport.SigMonitor:
		if s.Topic = r.str("notice topic"); r.err == nil && s.Topic != "" {
			s.Payload = r.value("notice payload")
		}
	case transport.SigDemonitor, transport.SigLink, transport.SigUnlink, transport.SigTerminate:
	default:
		r.fail("unknown signal kind " + strconv.Itoa(int(s.Kind)))
	}
	return s
}

// WireError reports a batch from another node that is not valid.
type WireError struct {
	Offset int
	Msg    string
}

func (e *WireError) Error() string {
	return "cluster: invalid batch at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// decodeBatch calls fn for each signal of a batch addressed to node, in
// order, and onPart for each part, and stops at the first bad byte.
// Signals before it have been handed to fn.
func decodeBatch(b []byte, node string, hdr func(header) bool, fn func(transport.Signal), onPart func(part)) error {
	r := reader{b: b}
	h := r.header()
	if r.err != nil {
		return r.err
	}
	if !hdr(h) {
		return nil
	}
	return r.signals(node, fn, onPart)
}

// decodeSignals calls fn for each signal reassembled from parts, in order,
// and stops at the first bad byte (a part among them is one: parts do not
// nest).
func decodeSignals(b []byte, node string, fn func(transport.Signal)) error {
	r := reader{b: b}
	return r.signals(node, fn, nil)
}

// signals reads signals to the end of the input; onPart nil refuses parts.
func (r *reader) signals(node string, fn func(transport.Signal), onPart func(part)) error {
	for !r.done() {
		if transport.SignalKind(r.b[r.off]) == kindPart {
			if onPart == nil {
				r.fail("a part among reassembled signals")
				return r.err
			}
			r.off++
			pt := r.part()
			if r.err != nil {
				return r.err
			}
			onPart(pt)
			continue
		}
		s := r.signal(node)
		if r.err != nil {
			return r.err
		}
		fn(s)
	}
	return r.err
}

// part is a piece of signals too big for one NATS message: the bytes at
// off of total bytes of signals. piece shares the batch's bytes.
type part struct {
	total, off int
	piece      []byte
}

// part reads a part after its kind byte. Every number is checked before it
// is used: total within MaxSignal, a piece of at least one byte that lies
// in the input and within the total.
func (r *reader) part() part {
	total := r.uvarint("part total")
	off := r.uvarint("part offset")
	n := r.uvarint("part length")
	if r.err != nil {
		return part{}
	}
	u := strconv.FormatUint
	switch {
	case total == 0 || total > MaxSignal:
		r.fail("part total " + u(total, 10) + " is not between 1 and " + strconv.Itoa(MaxSignal))
	case n == 0:
		r.fail("empty part")
	case n > uint64(len(r.b)-r.off):
		r.fail("part length " + u(n, 10) + " is more than the " + strconv.Itoa(len(r.b)-r.off) + " byte(s) left")
	case off >= total || n > total-off:
		r.fail("part of " + u(n, 10) + " byte(s) at offset " + u(off, 10) + " passes its total " + u(total, 10))
	}
	if r.err != nil {
		return part{}
	}
	pt := part{total: int(total), off: int(off), piece: r.b[r.off : r.off+int(n)]}
	r.off += int(n)
	return pt
}
