// Package pid defines process identifiers: their text form, parsing and the
// generation of ids that are never reused by a node, not even across restarts.
//
// The text form is {node@host|id}, for example {n1@app:processes|42}. The form
// {host|id}, without a node, is accepted when parsing and means the local
// node; a PID parsed that way has an empty Node.
package pid

import (
	"strconv"
	"strings"
)

// PID identifies one process. It is a comparable value and can be used as a
// map key. The zero PID identifies no process.
type PID struct {
	// Node is the name of the node the process runs on; empty means the
	// local node.
	Node string
	// Host is the process host the process was spawned on, e.g. "app:processes".
	Host string
	// ID is unique within the node, across all of the node's incarnations.
	ID uint64
}

// IsZero reports whether p is the zero PID.
func (p PID) IsZero() bool { return p == PID{} }

// String returns the text form {node@host|id}, or {host|id} when Node is empty.
// The zero PID formats as "{}".
func (p PID) String() string {
	if p.IsZero() {
		return "{}"
	}
	b := make([]byte, 0, len(p.Node)+len(p.Host)+24)
	return string(p.AppendText(b))
}

// AppendText appends the text form of p to b.
func (p PID) AppendText(b []byte) []byte {
	b = append(b, '{')
	if p.Node != "" {
		b = append(b, p.Node...)
		b = append(b, '@')
	}
	b = append(b, p.Host...)
	b = append(b, '|')
	b = strconv.AppendUint(b, p.ID, 10)
	return append(b, '}')
}

// MarshalText implements encoding.TextMarshaler.
func (p PID) MarshalText() ([]byte, error) { return p.AppendText(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler with Parse's rules.
func (p *PID) UnmarshalText(text []byte) error {
	q, err := Parse(string(text))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// Parse reads the text form of a PID. The node part is optional. Errors are
// of type *SyntaxError and say what is wrong.
func Parse(s string) (PID, error) {
	fail := func(msg string) (PID, error) { return PID{}, &SyntaxError{Input: s, Msg: msg} }
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return fail("must be enclosed in braces, as in {node@host|id}")
	}
	inner := s[1 : len(s)-1]
	bar := strings.LastIndexByte(inner, '|')
	if bar < 0 {
		return fail("missing '|' before the id")
	}
	left, idText := inner[:bar], inner[bar+1:]
	if idText == "" {
		return fail("empty id after '|'")
	}
	id, err := strconv.ParseUint(idText, 10, 64)
	if err != nil || idText[0] == '+' {
		return fail("id " + strconv.Quote(idText) + " is not a decimal number from 1 to 18446744073709551615")
	}
	if id == 0 {
		return fail("id must not be 0")
	}
	var node, host string
	if at := strings.IndexByte(left, '@'); at >= 0 {
		node, host = left[:at], left[at+1:]
		if node == "" {
			return fail("empty node name before '@'")
		}
		if msg := checkName("node", node); msg != "" {
			return fail(msg)
		}
	} else {
		host = left
	}
	if host == "" {
		return fail("empty host name")
	}
	if msg := checkName("host", host); msg != "" {
		return fail(msg)
	}
	return PID{Node: node, Host: host, ID: id}, nil
}

// ValidNodeName returns an error when name cannot be used as a node name.
func ValidNodeName(name string) error {
	if name == "" {
		return &NameError{Kind: "node", Name: name, Msg: "must not be empty"}
	}
	if msg := checkName("node", name); msg != "" {
		return &NameError{Kind: "node", Name: name, Msg: msg}
	}
	return nil
}

// ValidHostName returns an error when name cannot be used as a host name.
func ValidHostName(name string) error {
	if name == "" {
		return &NameError{Kind: "host", Name: name, Msg: "must not be empty"}
	}
	if msg := checkName("host", name); msg != "" {
		return &NameError{Kind: "host", Name: name, Msg: msg}
	}
	return nil
}

// checkName returns what is wrong with a node or host name, or "".
func checkName(kind, s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return kind + " name " + strconv.Quote(s) + " contains a space or control character"
		case c == '{' || c == '}' || c == '|' || c == '@':
			return kind + " name " + strconv.Quote(s) + " contains the reserved character " + strconv.QuoteRune(rune(c))
		}
	}
	return ""
}
