package process

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// Func is the body of a blocking process. It runs on its own goroutine,
// receives with Receive and ReceiveEvent, and its return values become the
// process's Result. It should return when its context is done: the process
// is then already ended (terminated) and its return values are ignored.
type Func func(p *Process) (value.Value, error)

// Handler is the body of a reactive process. A reactive process has no
// goroutine while idle: one is started when something is delivered and
// calls the handler for each message and event, one at a time, in order.
// The handler must not block for long.
type Handler interface {
	// HandleMessage is called for each message. A non-nil error ends the
	// process: ErrStop (or an error wrapping it) normally, others abnormally.
	HandleMessage(p *Process, m Message) error
	// HandleEvent is called for each event, like HandleMessage.
	HandleEvent(p *Process, e Event) error
	// Terminate is called once when the process has ended, for whatever
	// reason, after the last HandleMessage or HandleEvent call.
	Terminate(p *Process, r Result)
}

// Process is a running process as seen from its own body: the handle a Func
// or Handler receives. Its methods act on behalf of the process.
type Process struct {
	pid   pid.PID
	node  *Node
	host  *Host
	entry *string // what it runs, for crash reports; a pointer keeps Process in its 384-byte size class

	inbox  queue[Message]
	events queue[Event]

	mu        sync.Mutex // guards everything below
	result    Result
	dead      bool // beside the other bools: no padding after it
	namesGone bool // ended, and its names released (exit's last step under mu)
	cancelled bool
	trapLinks bool
	quiet     bool         // no crash report
	gated     atomic.Int32 // events waiting behind their senders' messages (order.go); not guarded by mu
	rel       relations
	names     []string
	timer     *time.Timer   // cancel grace period
	drops     uint64        // mailbox-full drops, for rate-limited logging
	born      int64         // when it was spawned (Unix nanoseconds), for observers
	msgsIn    atomic.Uint64 // messages its mailbox took, for observers
	msgsOut   atomic.Uint64 // messages it sent, for observers

	// blocking processes
	ctx *procContext

	// reactive processes
	handler    Handler
	scheduled  atomic.Bool
	terminated bool // Terminate was called; only the drain goroutine touches it
}

// SpawnOptions relate a new process to its parent atomically, before the new
// process can run or end.
type SpawnOptions struct {
	// Parent is the spawning process; required by Link and Monitor.
	Parent pid.PID
	// Link links the new process to Parent.
	Link bool
	// Monitor makes Parent monitor the new process.
	Monitor bool
	// Name registers the new process under this name; a taken name fails
	// the spawn.
	Name string
	// Watch lists processes the new process monitors from its first
	// instant, before anything can be delivered to it (a dead one gives an
	// EXIT with ErrNoProc at once). The WebSocket relay watches a
	// connection's target this way.
	Watch []pid.PID
	// Entry names what the process runs, for its crash report (the Lua
	// runtime sets the entry id, such as "app.ws:handler"). Default none.
	Entry string
	// Quiet: no crash report when the process ends abnormally, because
	// whoever spawned it logs its ends itself (the relay's connections,
	// a service's supervisor). Default false.
	Quiet bool
}

// initInbox bounds the mailbox by the host's MailboxSize and MailboxBytes;
// withSignal says whether a blocking process waits on it.
func (p *Process) initInbox(withSignal bool) {
	p.inbox.init(p.host.mailboxSize, withSignal)
	p.inbox.weigh, p.inbox.maxBytes = weighMessage, p.host.mailboxBytes
}

func weighMessage(m Message) int { return m.size() }

// Spawn starts a blocking process running fn on the named host.
func (n *Node) Spawn(host string, fn Func, opts SpawnOptions) (pid.PID, error) {
	return n.spawn(host, opts, func(p *Process) {
		p.ctx = newProcContext()
		p.initInbox(true)
		p.events.init(0, true)
	}, func(p *Process) {
		n.goroutines.add()
		go p.runBlocking(fn)
	})
}

// SpawnReactive starts a reactive process driven by h on the named host.
func (n *Node) SpawnReactive(host string, h Handler, opts SpawnOptions) (pid.PID, error) {
	return n.spawn(host, opts, func(p *Process) {
		p.handler = h
		p.initInbox(false)
		p.events.init(0, false)
	}, func(p *Process) {
		// Something may already have been delivered (a noproc EXIT, say).
		if p.hasWork() {
			p.schedule()
		}
	})
}

func (n *Node) spawn(hostName string, opts SpawnOptions, setup, start func(*Process)) (pid.PID, error) {
	h, ok := n.Host(hostName)
	if !ok {
		return pid.PID{}, &OpError{Op: "spawn", Arg: hostName, Err: ErrUnknownHost}
	}
	var parent *Process
	if opts.Link || opts.Monitor {
		if parent = n.lookup(opts.Parent); parent == nil {
			return pid.PID{}, &OpError{Op: "spawn", Arg: opts.Parent.String(), Err: ErrNoProc}
		}
	}
	if n.closing.Load() {
		return pid.PID{}, &OpError{Op: "spawn", Err: ErrShuttingDown}
	}
	if err := h.reserve(); err != nil {
		return pid.PID{}, &OpError{Op: "spawn", Arg: hostName, Err: err}
	}
	n.live.add()
	if n.closing.Load() { // Shutdown may have counted the live processes already
		n.live.done()
		h.release()
		return pid.PID{}, &OpError{Op: "spawn", Err: ErrShuttingDown}
	}
	p := &Process{pid: pid.PID{Node: n.name, Host: h.name, ID: n.ids.Next()}, node: n, host: h, quiet: opts.Quiet, born: time.Now().UnixNano()}
	if opts.Entry != "" {
		entry := opts.Entry
		p.entry = &entry
	}
	setup(p)
	h.spawned.Add(1)
	n.procs.put(p)
	if opts.Name != "" {
		if err := n.Register(opts.Name, p.pid); err != nil {
			p.mu.Lock()
			p.quiet = true // the spawn fails: its caller hears of it
			p.mu.Unlock()
			p.exit(Result{Err: err})
			if p.handler != nil {
				p.schedule() // so Terminate is called
			} else {
				n.procs.delete(p.pid.ID)
			}
			return pid.PID{}, &OpError{Op: "spawn", Arg: opts.Name, Err: err}
		}
	}
	if opts.Link {
		n.link(parent, p.pid)
	}
	if opts.Monitor {
		n.monitor(parent, p.pid)
	}
	for _, w := range opts.Watch {
		if err := n.monitor(p, w); err != nil {
			p.exit(Result{Err: err})
		}
	}
	start(p)
	// A Shutdown that began after the checks above may have gone over the
	// process table before p was in it: cancel p as it would have.
	if n.closing.Load() {
		n.cancel(p, pid.PID{}, "shutdown", p.host.cancelGrace)
	}
	return p.pid, nil
}

func (p *Process) runBlocking(fn Func) {
	defer p.node.goroutines.done()
	var r Result
	func() {
		defer func() {
			if v := recover(); v != nil {
				r = Result{Err: p.panicked(v)}
			}
		}()
		r.Value, r.Err = fn(p)
	}()
	p.exit(r)
	p.node.procs.delete(p.pid.ID)
}

// PID returns the process's PID.
func (p *Process) PID() pid.PID { return p.pid }

// Node returns the node the process runs on.
func (p *Process) Node() *Node { return p.node }

// Context is done when the process has ended (blocking processes; for a
// reactive process it is never done).
func (p *Process) Context() context.Context {
	if p.ctx == nil {
		return context.Background()
	}
	return p.ctx
}

// Receive waits for the next message. It returns false when the inbox is
// closed and drained (the process was cancelled or has ended) or ctx is done.
func (p *Process) Receive(ctx context.Context) (Message, bool) {
	m, ok := receive(ctx, p.inbox.signal, p.inbox.pop)
	if ok {
		p.passedMessage()
	}
	return m, ok
}

// TryReceive returns the next message if one is waiting. closed reports an
// inbox that is closed and drained.
func (p *Process) TryReceive() (m Message, ok, closed bool) {
	m, ok, closed = p.inbox.pop()
	if ok {
		p.passedMessage()
	}
	return m, ok, closed
}

// InboxReady returns a channel that receives a value (or is closed) when
// the inbox may have something: wait on it, then TryReceive. A process that
// selects over several sources uses it; Receive is simpler otherwise.
func (p *Process) InboxReady() <-chan struct{} { return p.inbox.signal }

// ReceiveEvent waits for the next event, like Receive. An event from a
// process that sent this one messages first waits until those messages
// have been received: signals from one sender arrive in the order sent.
// That is for a process that reads its inbox too; one that waits on its
// events alone uses ReceiveEventAlone, or it waits as long as those
// messages stay unread.
func (p *Process) ReceiveEvent(ctx context.Context) (Event, bool) {
	return receive(ctx, p.events.signal, p.popEvent)
}

// TryReceiveEvent returns the next event if one may be received: one whose
// sender's earlier messages have all been received (see ReceiveEvent).
func (p *Process) TryReceiveEvent() (e Event, ok, closed bool) { return p.popEvent() }

// ReceiveEventAlone waits for the next event, for a process that waits on
// its events alone (it does not read its inbox meanwhile): an event is not
// held back behind its sender's unread messages. The messages stay in the
// inbox; a process that reads both in one wait uses ReceiveEvent or
// TryReceiveEvent to see them in the order sent.
func (p *Process) ReceiveEventAlone(ctx context.Context) (Event, bool) {
	return receive(ctx, p.events.signal, p.popEventAlone)
}

// TryReceiveEventAlone is TryReceiveEvent for a process that waits on its
// events alone (see ReceiveEventAlone).
func (p *Process) TryReceiveEventAlone() (e Event, ok, closed bool) { return p.popEventAlone() }

// EventsReady is InboxReady for events.
func (p *Process) EventsReady() <-chan struct{} { return p.events.signal }

func receive[T any](ctx context.Context, signal <-chan struct{}, pop func() (T, bool, bool)) (T, bool) {
	for {
		v, ok, closed := pop()
		if ok || closed {
			return v, ok
		}
		select {
		case <-signal:
		case <-ctx.Done():
			return v, false
		}
	}
}

// Send sends a message to the process to; see Node.Send.
func (p *Process) Send(to pid.PID, topic string, payload value.Value) error {
	return p.node.sendBy(p, to, topic, payload)
}

// SendDest sends to a registered name or a PID in text form; see Node.SendDest.
func (p *Process) SendDest(dest, topic string, payload value.Value) error {
	return p.node.sendDestBy(p, dest, topic, payload)
}

// Spawn starts a blocking child process; opts.Parent is set to p.
func (p *Process) Spawn(host string, fn Func, opts SpawnOptions) (pid.PID, error) {
	opts.Parent = p.pid
	return p.node.Spawn(host, fn, opts)
}

// SetTrapLinks sets whether a linked process's abnormal end arrives as a
// LINK_DOWN event (true) or terminates this process (false, the default).
func (p *Process) SetTrapLinks(trap bool) {
	p.mu.Lock()
	p.trapLinks = trap
	p.mu.Unlock()
}

// TrapLinks reports whether the process traps links.
func (p *Process) TrapLinks() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.trapLinks
}

// Monitor starts monitoring target: when it ends, p gets one EXIT event.
// Monitoring a process that has already ended gives an EXIT with ErrNoProc
// at once. Monitoring a process already monitored does nothing.
func (p *Process) Monitor(target pid.PID) error { return p.node.monitor(p, target) }

// MonitorNotice monitors target like Monitor and, when target lives on
// another node, leaves a notice with it: if p's node is lost (down for
// target's node) while p monitors target, target receives the message
// topic/payload from p, once. The notice is spent, and nothing is sent on
// p's behalf, when p stops monitoring target, when target ends, or when
// p sends target a message on topic itself (a "last word" p would have
// said, such as a leave, replaces the notice). Asked again, it replaces
// the notice. For a target on p's own node it is Monitor: the two are
// lost together. The topic must not be empty, and the topic and the
// payload's binary encoding together must fit in MaxNoticeBytes
// (ErrNoticeTooLarge: nothing is changed, an earlier notice stays).
func (p *Process) MonitorNotice(target pid.PID, topic string, payload value.Value) error {
	return p.node.monitorNotice(p, target, topic, payload)
}

// MonitorNotice is Process.MonitorNotice for the local process watcher,
// for code that holds its PID rather than the process (a reactive
// process's owner, say).
func (n *Node) MonitorNotice(watcher, target pid.PID, topic string, payload value.Value) error {
	w := n.lookup(watcher)
	if w == nil || !n.IsLocal(watcher) {
		return &OpError{Op: "monitor", Arg: watcher.String(), Err: ErrNoProc}
	}
	return n.monitorNotice(w, target, topic, payload)
}

// Unmonitor stops monitoring target; no EXIT for it arrives afterwards.
func (p *Process) Unmonitor(target pid.PID) error { return p.node.unmonitor(p, target) }

// Link links p and target; see Node.Link.
func (p *Process) Link(target pid.PID) error { return p.node.link(p, target) }

// Unlink removes the link between p and target.
func (p *Process) Unlink(target pid.PID) error { return p.node.unlink(p, target) }

// Register registers p under name on its own behalf; see Node.RegisterBy.
func (p *Process) Register(name string) error { return p.node.RegisterBy(p.pid, name, p.pid) }

// Unregister releases a name p holds; see Node.UnregisterBy.
func (p *Process) Unregister(name string) error { return p.node.UnregisterBy(p.pid, name) }

// Exit ends the process now with r (for reactive processes, which have no
// return value; a blocking body returns instead).
func (p *Process) Exit(r Result) {
	p.exit(r)
	if p.handler != nil {
		p.schedule()
	}
}

// Result returns how the process ended, and whether it has.
func (p *Process) Result() (Result, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.result, p.dead
}

// Cancelled reports whether the process was asked to end (Node.Cancel)
// or has ended.
func (p *Process) Cancelled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cancelled || p.dead
}

func (p *Process) isDead() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}
