package process

import (
	"fmt"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// Every relation is written on both sides, one process lock at a time (no
// code holds two process locks). A side that ends between the two writes is
// caught by re-checking it after the second write, so each monitor gets
// exactly one EXIT and no dead process stays in a live one's table.

func (n *Node) monitor(w *Process, target pid.PID) error {
	target = n.normalize(target)
	if target == w.pid {
		return &OpError{Op: "monitor", Arg: target.String(), Err: ErrSelf}
	}
	w.mu.Lock()
	if w.dead {
		w.mu.Unlock()
		return &OpError{Op: "monitor", Arg: w.pid.String(), Err: ErrNoProc}
	}
	added := w.rel.add(relMonitoring, target)
	w.mu.Unlock()
	if !added {
		return nil
	}
	if !n.IsLocal(target) {
		if err := n.sendSignal(transport.Signal{Kind: transport.SigMonitor, From: w.pid, To: target}); err != nil {
			w.mu.Lock()
			w.rel.remove(relMonitoring, target)
			w.mu.Unlock()
			return &OpError{Op: "monitor", Arg: target.String(), Err: err}
		}
		return nil
	}
	n.addWatcher(target, w.pid)
	return nil
}

// monitorNotice is monitor with a notice left with a target on another
// node (see Process.MonitorNotice). Asked again, it replaces the notice.
func (n *Node) monitorNotice(w *Process, target pid.PID, topic string, payload value.Value) error {
	target = n.normalize(target)
	if topic == "" {
		return &OpError{Op: "monitor", Arg: target.String(), Err: ErrEmptyTopic}
	}
	if n.IsLocal(target) {
		return n.monitor(w, target)
	}
	if size := noticeSize(topic, payload); size > MaxNoticeBytes {
		return &OpError{Op: "monitor", Arg: target.String(),
			Err: fmt.Errorf("%w: topic %q and its payload are %d bytes encoded, at most %d", ErrNoticeTooLarge, topic, size, MaxNoticeBytes)}
	}
	w.mu.Lock()
	if w.dead {
		w.mu.Unlock()
		return &OpError{Op: "monitor", Arg: w.pid.String(), Err: ErrNoProc}
	}
	added := w.rel.add(relMonitoring, target)
	w.mu.Unlock()
	if err := n.sendSignal(transport.Signal{Kind: transport.SigMonitor, From: w.pid, To: target, Topic: topic, Payload: payload}); err != nil {
		if added {
			w.mu.Lock()
			w.rel.remove(relMonitoring, target)
			w.mu.Unlock()
		}
		return &OpError{Op: "monitor", Arg: target.String(), Err: err}
	}
	return nil
}

// MaxNoticeBytes bounds a notice (Process.MonitorNotice): its topic and
// its payload's binary encoding (value.BinarySize) together. Every remote
// watcher may leave one with its target, so a target's notices cost at
// most this much per watcher. 64 KiB.
const MaxNoticeBytes = 64 << 10

// MaxNoticeBytesPerProcess bounds the notices one process holds, over all
// its watchers on other nodes (each counted as for MaxNoticeBytes): a
// notice past it is not kept (the monitor stands without it; logged), so
// peers cannot grow one process's notices without end. 16 MiB: some
// 50,000 relay clients' ws.leave notices of 300 bytes.
const MaxNoticeBytesPerProcess = 16 << 20

// noticeSize is what a notice counts against MaxNoticeBytes.
func noticeSize(topic string, payload value.Value) int {
	return len(topic) + value.BinarySize(payload)
}

// addRemoteWatcherNotice records a monitor with a notice that came from
// another node. A notice over MaxNoticeBytes (a node that does not check
// it) is not kept, nor the watcher's earlier one: the watcher still
// monitors the target, without a notice.
func (n *Node) addRemoteWatcherNotice(target, w pid.PID, topic string, payload value.Value) {
	size := noticeSize(topic, payload)
	if size > MaxNoticeBytes {
		if c := n.bigNotices.Add(1); c&(c-1) == 0 { // the 1st, 2nd, 4th...
			n.log.Debug("process: dropped a notice over MaxNoticeBytes from another node; the monitor stands without it",
				"watcher", w.String(), "target", target.String(), "topic", topic, "bytes", size, "dropped_so_far", c)
		}
		n.addWatcher(target, w)
		if t := n.lookup(target); t != nil {
			t.mu.Lock()
			t.rel.dropNotice(w)
			t.mu.Unlock()
		}
		return
	}
	n.addWatcherNotice(target, w, &notice{topic: topic, payload: payload, size: size})
}

// addWatcher records watcher w (of any node) on the local target, or tells
// w at once that the target is gone.
func (n *Node) addWatcher(target, w pid.PID) { n.addWatcherNotice(target, w, nil) }

// addWatcherNotice is addWatcher that also records the notice w left
// (nil: none; a repeated monitor keeps the watcher and replaces its
// notice).
func (n *Node) addWatcherNotice(target, w pid.PID, note *notice) {
	t := n.lookup(target)
	if t == nil {
		n.deliverExit(w, target, Result{Err: ErrNoProc})
		return
	}
	t.mu.Lock()
	if t.dead && t.namesGone {
		t.mu.Unlock()
		n.deliverExit(w, target, Result{Err: ErrNoProc})
		return
	}
	t.rel.add(relWatchers, w) // while it ends: told noproc once its names are released (exit)
	if t.dead {
		t.mu.Unlock()
		return
	}
	kept := note == nil || t.rel.setNotice(w, *note)
	t.mu.Unlock()
	if !kept {
		if c := n.fullNotices.Add(1); c&(c-1) == 0 { // the 1st, 2nd, 4th...
			n.log.Warn("process: a notice from another node would take its target's notices past MaxNoticeBytesPerProcess; the monitor stands without it",
				"watcher", w.String(), "target", target.String(), "topic", note.topic, "bytes", note.size, "dropped_so_far", c)
		}
	}
	// A local watcher that ended meanwhile could not remove itself yet.
	if wp := n.lookup(w); n.IsLocal(w) && (wp == nil || wp.isDead()) {
		n.dropWatcher(target, w)
	}
}

func (n *Node) unmonitor(w *Process, target pid.PID) error {
	target = n.normalize(target)
	w.mu.Lock()
	removed := w.rel.remove(relMonitoring, target)
	w.mu.Unlock()
	if removed {
		n.dropWatcher(target, w.pid)
	}
	return nil
}

// spendNotice drops the notice watcher w left with the local target when
// w sends target the notice's own topic: the message the notice stood in
// for has come.
func (n *Node) spendNotice(w, target pid.PID, topic string) {
	t := n.lookup(target)
	if t == nil {
		return
	}
	t.mu.Lock()
	if t.rel.notices != nil {
		t.rel.spendNotice(w, topic)
	}
	t.mu.Unlock()
}

// dropWatcher removes watcher w from target's table (target may be remote).
func (n *Node) dropWatcher(target, w pid.PID) {
	if !n.IsLocal(target) {
		_ = n.sendSignal(transport.Signal{Kind: transport.SigDemonitor, From: w, To: target})
		return
	}
	if t := n.lookup(target); t != nil {
		t.mu.Lock()
		t.rel.remove(relWatchers, w)
		t.mu.Unlock()
	}
}

// deliverExit gives watcher w (of any node) the EXIT event for from, unless
// w no longer monitors from.
func (n *Node) deliverExit(w, from pid.PID, r Result) {
	if !n.IsLocal(w) {
		_ = n.sendSignal(transport.Signal{Kind: transport.SigExit, From: from, To: w, Result: transport.Result(r)})
		return
	}
	p := n.lookup(w)
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.dead || !p.rel.remove(relMonitoring, from) {
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.deliverEvent(Event{Kind: EventExit, From: from, Result: r})
}

func (p *Process) deliverEvent(e Event) {
	if p.pushEvent(e) && p.handler != nil {
		p.schedule()
	}
}

// Link links the calling process a to target: when either ends with an
// error, the other gets a LINK_DOWN event if it traps links, and is
// otherwise terminated with a *LinkDownError. Normal exits do not propagate.
//
// Linking to a local process that does not exist or has ended returns
// ErrNoProc and makes no link. For a PID on another node the answer comes
// later: a LINK_DOWN (or termination) with ErrNoProc.
func (n *Node) link(a *Process, target pid.PID) error {
	target = n.normalize(target)
	if target == a.pid {
		return &OpError{Op: "link", Arg: target.String(), Err: ErrSelf}
	}
	a.mu.Lock()
	if a.dead {
		a.mu.Unlock()
		return &OpError{Op: "link", Arg: a.pid.String(), Err: ErrNoProc}
	}
	added := a.rel.add(relLinks, target)
	a.mu.Unlock()
	if !added {
		return nil
	}
	if !n.IsLocal(target) {
		if err := n.sendSignal(transport.Signal{Kind: transport.SigLink, From: a.pid, To: target}); err != nil {
			a.mu.Lock()
			a.rel.remove(relLinks, target)
			a.mu.Unlock()
			return &OpError{Op: "link", Arg: target.String(), Err: err}
		}
		return nil
	}
	if !n.addLink(target, a.pid) {
		a.mu.Lock()
		a.rel.remove(relLinks, target)
		a.mu.Unlock()
		return &OpError{Op: "link", Arg: target.String(), Err: ErrNoProc}
	}
	return nil
}

// addLink records the link from (of any node) on the local target. It
// reports false when target does not exist or has ended.
func (n *Node) addLink(target, from pid.PID) bool {
	t := n.lookup(target)
	if t == nil {
		return false
	}
	t.mu.Lock()
	if t.dead {
		t.mu.Unlock()
		return false
	}
	t.rel.add(relLinks, from)
	t.mu.Unlock()
	// If from ended meanwhile, its exit could not see this side of the link.
	if fp := n.lookup(from); n.IsLocal(from) && (fp == nil || fp.isDead()) {
		r := Result{Err: ErrNoProc}
		if fp != nil {
			r, _ = fp.Result()
		}
		n.deliverLinkExit(target, from, r)
	}
	return true
}

func (n *Node) unlink(a *Process, target pid.PID) error {
	target = n.normalize(target)
	a.mu.Lock()
	removed := a.rel.remove(relLinks, target)
	a.mu.Unlock()
	if !removed {
		return nil
	}
	if !n.IsLocal(target) {
		_ = n.sendSignal(transport.Signal{Kind: transport.SigUnlink, From: a.pid, To: target})
		return nil
	}
	n.removeLink(target, a.pid)
	return nil
}

func (n *Node) removeLink(target, from pid.PID) {
	if t := n.lookup(target); t != nil {
		t.mu.Lock()
		t.rel.remove(relLinks, from)
		t.mu.Unlock()
	}
}

// deliverLinkExit tells process to (of any node) that the linked process
// from ended with r.
func (n *Node) deliverLinkExit(to, from pid.PID, r Result) {
	if !n.IsLocal(to) {
		_ = n.sendSignal(transport.Signal{Kind: transport.SigLinkExit, From: from, To: to, Result: transport.Result(r)})
		return
	}
	p := n.lookup(to)
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.dead || !p.rel.remove(relLinks, from) || r.Err == nil {
		p.mu.Unlock()
		return
	}
	trap := p.trapLinks
	p.mu.Unlock()
	if trap {
		p.deliverEvent(Event{Kind: EventLinkDown, From: from, Result: r})
		return
	}
	n.terminate(p, &LinkDownError{PID: from, Reason: r.Err})
}
