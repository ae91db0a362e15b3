package cluster

import (
	"errors"
	"fmt"

	"github.com/wsrelay/wsrelay/process/transport"
)

// kindGroup is a signal of the process groups (package pg) in the batch
// stream: bytes the transport does not read, handed to the GroupHandler
// of the receiving node. In the stream it keeps its order with the other
// signals its node sends: a broadcast reaches each node after every
// message its sender sent there before it.
const kindGroup transport.SignalKind = 0xF4

// MaxGroupData bounds the bytes of one kindGroup signal: a group
// handler's full state or one broadcast. It is MaxSignal less room for
// the signal's own kind and length.
const MaxGroupData = MaxSignal - 16

// GroupHandler receives the process groups' traffic of a node (package pg
// implements it; the gateway wires it with SetGroups). Its methods are
// called from the transport's goroutines and must not block: they may
// call SendGroups.
type GroupHandler interface {
	// GroupData is the data of a kindGroup signal from node from, in the
	// order that node sent it. data is the handler's to keep.
	GroupData(from, data string)
	// PeerChanged says that something happened to node: it came up,
	// went down, came back after declaring this node down (a reset), or
	// says that batches between the two may have been lost. The handler
	// asks IsUp what holds now: the calls for one node may come out of
	// order, and the last one sees the last state.
	PeerChanged(node string)
}

// SetGroups makes h the node's group handler; call it before Start.
func (t *Transport) SetGroups(h GroupHandler) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.groups = h
}

// SendGroups queues data as a kindGroup signal for node, after what is
// queued for it already. It never blocks: it fails with ErrNodeDown for a
// node not up, ErrBacklog when the queue toward it is full, and
// ErrTooLarge for data of more than MaxGroupData bytes.
func (t *Transport) SendGroups(node, data string) error {
	if len(data) > MaxGroupData {
		t.stats.dropped.Add(1)
		return fmt.Errorf("cluster: node %q: group data of %d bytes: %w (at most %d)", node, len(data), ErrTooLarge, MaxGroupData)
	}
	if data == "" {
		return errors.New("cluster: empty group data")
	}
	p, err := t.livePeer(node)
	if err != nil {
		return err
	}
	return p.enqueue(t, transport.Signal{Kind: kindGroup, Reason: data})
}

// IsUp reports whether this node sees node up.
func (t *Transport) IsUp(node string) bool { return t.isUp(node) }

// groupHandler returns the group handler, nil when there is none.
func (t *Transport) groupHandler() GroupHandler {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.groups
}

// peerChanged tells the group handler, if any, that something happened to
// node; t.mu is not held.
func (t *Transport) peerChanged(node string) {
	if h := t.groupHandler(); h != nil {
		h.PeerChanged(node)
	}
}
