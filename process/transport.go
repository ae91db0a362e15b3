package process

import (
	"time"

	"github.com/wsrelay/wsrelay/process/transport"
)

// transportSide is the node's side for its transport (transport.Node),
// handed to a transport.Receiver by NewNode: what the transport calls
// stays out of Node's own methods.
type transportSide struct{ n *Node }

func (t transportSide) Name() string                           { return t.n.Name() }
func (t transportSide) Boot() time.Time                        { return t.n.Boot() }
func (t transportSide) HandleSignal(s transport.Signal)        { t.n.handleSignal(s) }
func (t transportSide) NodeDown(node string)                   { t.n.nodeDown(node) }
func (t transportSide) ReceiptsLost(node string)               { t.n.receiptsLost(node) }
func (t transportSide) TakenReady() <-chan struct{}            { return t.n.acks.ready }
func (t transportSide) DrainTaken(send func(transport.Signal)) { t.n.drainTaken(send) }

func (n *Node) sendSignal(s transport.Signal) error {
	if n.transport == nil {
		return &OpError{Op: "reach node", Arg: s.To.Node, Err: ErrNoTransport}
	}
	return n.transport.Deliver(s)
}

// handleSignal is transport.Node.HandleSignal.
func (n *Node) handleSignal(s transport.Signal) {
	switch s.Kind {
	case transport.SigMessage:
		n.spendNotice(s.From, s.To, s.Topic) // before the message: a node loss after it sends no second one
		if s.Seq != 0 {
			n.deliverWithReceipt(s)
			return
		}
		_ = n.send(s.From, s.To, s.Topic, s.Payload)
	case transport.SigTaken:
		n.remoteTaken(s.To, s.From, s.Seq)
	case transport.SigMonitor:
		if s.Topic != "" {
			n.addRemoteWatcherNotice(s.To, s.From, s.Topic, s.Payload)
		} else {
			n.addWatcher(s.To, s.From)
		}
	case transport.SigDemonitor:
		n.dropWatcher(s.To, s.From)
	case transport.SigExit:
		n.deliverExit(s.To, s.From, Result(s.Result))
	case transport.SigLink:
		if !n.addLink(s.To, s.From) {
			n.deliverLinkExit(s.From, s.To, Result{Err: ErrNoProc})
		}
	case transport.SigUnlink:
		n.removeLink(s.To, s.From)
	case transport.SigLinkExit:
		n.deliverLinkExit(s.To, s.From, Result(s.Result))
	case transport.SigCancel:
		_ = n.Cancel(s.From, s.To, s.Reason)
	case transport.SigTerminate:
		_ = n.Terminate(s.To)
	}
}

// nodeDown is transport.Node.NodeDown.
func (n *Node) nodeDown(node string) {
	if node == n.name {
		return
	}
	n.receiptsNodeDown(node)
	n.procs.each(func(p *Process) {
		p.mu.Lock()
		if p.dead {
			p.mu.Unlock()
			return
		}
		gone, notes := p.rel.takeNode(node)
		trap := p.trapLinks
		p.mu.Unlock()
		for _, nt := range notes {
			_ = n.send(nt.from, p.pid, nt.topic, nt.payload)
		}
		lost := Result{Err: ErrNoConnection}
		for _, t := range gone[relMonitoring] {
			p.deliverEvent(Event{Kind: EventExit, From: t, Result: lost})
		}
		for _, l := range gone[relLinks] {
			if trap {
				p.deliverEvent(Event{Kind: EventLinkDown, From: l, Result: lost})
			} else {
				n.terminate(p, &LinkDownError{PID: l, Reason: ErrNoConnection})
				return
			}
		}
	})
}
