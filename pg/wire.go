package pg

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// The bytes one node sends another for the process groups, inside the
// cluster's group signal (cluster.SendGroups):
//
//	version      1 byte (wireVersion)
//	op           1 byte
//	scope        uvarint length + name
//	join, leave: member host (uvarint length + name), member id (uvarint),
//	             uvarint count (at least 1), each a group (length + name);
//	             the member lives on the sending node
//	sync, ask:   uvarint count of groups, each: group, uvarint count of
//	             members (at least 1), each: host, id, uvarint joins
//	             (1 to maxJoins); ask also asks for the receiver's sync
//	cast:        group, sender (0: none, or 1 and the PID: node, host,
//	             id), topic, value (value.AppendBinary)
//
// Every byte is hostile until checked: each length and count is checked
// against the bytes left before anything is allocated for it, names
// against MaxName, and the decoder returns an error instead of panicking.

const wireVersion = 1

type op byte

const (
	opJoin op = iota + 1
	opLeave
	opSync
	opAsk
	opCast
)

// MaxName bounds a scope's and a group's name, in bytes.
const MaxName = 255

// maxHost bounds a member's host name on the wire.
const maxHost = 255

// maxJoins bounds one member's joins of one group on the wire: a node's
// own bound (ScopeOptions.MaxMembersPerGroup) is below it.
const maxJoins = 1 << 24

type wmsg struct {
	op     op
	scope  string
	member pid.PID // join, leave: its Node is the sending node, set by the receiver
	groups []string
	state  map[string]members // sync, ask
	cast   cast
}

type cast struct {
	group, topic string
	from         pid.PID
	payload      value.Value
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendHead(b []byte, o op, scope string) []byte {
	return appendStr(append(b, wireVersion, byte(o)), scope)
}

func encodeDelta(o op, scope string, member pid.PID, groups []string) string {
	b := appendHead(nil, o, scope)
	b = appendStr(b, member.Host)
	b = binary.AppendUvarint(b, member.ID)
	b = binary.AppendUvarint(b, uint64(len(groups)))
	for _, g := range groups {
		b = appendStr(b, g)
	}
	return string(b)
}

func encodeSync(o op, scope string, local map[string]members) string {
	b := appendHead(nil, o, scope)
	b = binary.AppendUvarint(b, uint64(len(local)))
	for g, ms := range local {
		b = appendStr(b, g)
		b = binary.AppendUvarint(b, uint64(len(ms)))
		for m, n := range ms {
			b = appendStr(b, m.Host)
			b = binary.AppendUvarint(b, m.ID)
			b = binary.AppendUvarint(b, uint64(n))
		}
	}
	return string(b)
}

func encodeCast(scope string, c cast) string {
	b := appendHead(nil, opCast, scope)
	b = appendStr(b, c.group)
	if c.from.IsZero() {
		b = append(b, 0) // from no process (a function.lua handler, Go code)
	} else {
		b = append(b, 1)
		b = appendStr(b, c.from.Node)
		b = appendStr(b, c.from.Host)
		b = binary.AppendUvarint(b, c.from.ID)
	}
	b = appendStr(b, c.topic)
	b = value.AppendBinary(b, c.payload)
	return string(b)
}

// WireError reports bytes from another node that are not valid.
type WireError struct {
	Offset int
	Msg    string
}

func (e *WireError) Error() string {
	return "pg: invalid data from another node at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

type reader struct {
	b   string
	off int
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = &WireError{Offset: r.off, Msg: msg}
	}
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) byte1(what string) byte {
	if r.err != nil {
		return 0
	}
	if r.left() < 1 {
		r.fail("input ends before the " + what)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if r.off >= len(r.b) {
			break
		}
		c := r.b[r.off]
		r.off++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			return v | uint64(c)<<s
		}
		v |= uint64(c&0x7f) << s
		s += 7
	}
	r.fail("bad varint in the " + what)
	return 0
}

// count reads a count of items of at least min bytes each: more than the
// bytes left could hold is an error, so nothing is sized by a count alone.
func (r *reader) count(what string, min int) int {
	n := r.uvarint(what)
	if r.err == nil && n > uint64(r.left()/min) {
		r.fail(what + " " + strconv.FormatUint(n, 10) + " is more than the " + strconv.Itoa(r.left()) + " byte(s) left can hold")
		return 0
	}
	return int(n)
}

// name reads a string of 1 to max bytes of valid UTF-8.
func (r *reader) name(what string, max int) string {
	n := r.uvarint(what + " length")
	if r.err != nil {
		return ""
	}
	switch {
	case n == 0:
		r.fail("empty " + what)
	case n > uint64(max):
		r.fail(what + " of " + strconv.FormatUint(n, 10) + " bytes is longer than " + strconv.Itoa(max))
	case n > uint64(r.left()):
		r.fail(what + " length " + strconv.FormatUint(n, 10) + " is more than the " + strconv.Itoa(r.left()) + " byte(s) left")
	}
	if r.err != nil {
		return ""
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	if !utf8.ValidString(s) {
		r.fail(what + " is not valid UTF-8")
	}
	return s
}

// member reads a member of node (host, id).
func (r *reader) member(node string) pid.PID {
	p := pid.PID{Node: node, Host: r.name("member host", maxHost), ID: r.uvarint("member id")}
	if r.err != nil {
		return pid.PID{}
	}
	if err := pid.ValidHostName(p.Host); err != nil || p.ID == 0 {
		r.fail("member " + strconv.Quote(p.Host) + " id " + strconv.FormatUint(p.ID, 10) + " is not a valid PID")
	}
	return p
}

// decode reads a message from node from.
func decode(data, from string) (wmsg, error) {
	r := reader{b: data}
	var m wmsg
	if v := r.byte1("version"); r.err == nil && v != wireVersion {
		r.fail("unknown version " + strconv.Itoa(int(v)))
	}
	m.op = op(r.byte1("op"))
	m.scope = r.name("scope", MaxName)
	if r.err != nil {
		return m, r.err
	}
	switch m.op {
	case opJoin, opLeave:
		m.member = r.member(from)
		n := r.count("group count", 2)
		if r.err == nil && n == 0 {
			r.fail("no groups")
		}
		for i := 0; i < n && r.err == nil; i++ {
			m.groups = append(m.groups, r.name("group", MaxName))
		}
	case opSync, opAsk:
		m.state = r.state(from)
	case opCast:
		m.cast.group = r.name("group", MaxName)
		switch r.byte1("sender flag") {
		case 0:
		case 1:
			m.cast.from = pid.PID{Node: r.name("sender node", maxHost), Host: r.name("sender host", maxHost), ID: r.uvarint("sender id")}
			if r.err == nil && (pid.ValidNodeName(m.cast.from.Node) != nil || pid.ValidHostName(m.cast.from.Host) != nil || m.cast.from.ID == 0) {
				r.fail("sender is not a valid PID")
			}
		default:
			r.fail("bad sender flag")
		}
		m.cast.topic = r.name("topic", maxTopic)
		if r.err == nil {
			if err := checkTopic(m.cast.topic); err != nil {
				r.fail(err.Error())
			}
		}
		if r.err == nil {
			v, n, err := value.ReadBinary([]byte(r.b[r.off:]))
			if err != nil {
				r.fail("payload: " + err.Error())
			}
			m.cast.payload = v
			r.off += n
		}
	default:
		r.fail("unknown op " + strconv.Itoa(int(m.op)))
	}
	if r.err == nil && r.left() != 0 {
		r.fail(strconv.Itoa(r.left()) + " byte(s) after the end")
	}
	return m, r.err
}

// state reads a node's full state of a scope.
func (r *reader) state(from string) map[string]members {
	ng := r.count("group count", 3)
	st := make(map[string]members, min(ng, 1024))
	for i := 0; i < ng && r.err == nil; i++ {
		g := r.name("group", MaxName)
		nm := r.count("member count", 3)
		if r.err == nil && nm == 0 {
			r.fail("group " + strconv.Quote(g) + " without members")
		}
		if r.err == nil && st[g] != nil {
			r.fail("group " + strconv.Quote(g) + " twice")
		}
		ms := make(members, min(nm, 1024))
		for j := 0; j < nm && r.err == nil; j++ {
			p := r.member(from)
			n := r.uvarint("joins")
			if r.err == nil && (n == 0 || n > maxJoins) {
				r.fail("joins " + strconv.FormatUint(n, 10) + " not between 1 and " + strconv.Itoa(maxJoins))
			}
			if r.err == nil && ms[p] != 0 {
				r.fail("member " + p.String() + " twice in a group")
			}
			ms[p] = int(n)
		}
		st[g] = ms
	}
	if r.err != nil {
		return nil
	}
	return st
}
