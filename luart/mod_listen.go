package luart

import (
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/process"
)

// process.listen(topic [, {message = true}]) returns a channel that
// receives the messages of that topic (their payload's data, or with
// message = true the message objects), which the inbox then no longer
// gets; process.unlisten(ch) ends it, and the messages it held go back to
// the inbox. Processes only.
//
// A process has one mailbox. Once it listens, every read (of the inbox or
// of a listening channel) takes messages from the mailbox in order and
// sorts them by topic into queues the other reads then find, on the
// process's own goroutine. What the queues hold is bounded, in messages
// (maxRouted) and bytes (maxRoutedBytes): past it, reading stops taking
// from the mailbox until the queues are read, so a process that listens
// and never reads its inbox is held back by its mailbox's bounds as before.
// Events behind a sender's messages (process.events) are released as the
// messages are sorted, not as the code reads them.

const (
	maxRouted      = 4096
	maxRoutedBytes = 64 << 20
	maxListeners   = 64
)

type listenQueue struct {
	topic   string
	message bool // deliver message objects rather than payload data
	msgs    []process.Message
}

// topicRouter sorts a listening process's mailbox by topic.
type topicRouter struct {
	listeners map[string]*listenQueue
	inbox     []process.Message
	count     int
	bytes     int
}

// take returns the next message for q (nil: the inbox), taking from the
// mailbox and sorting as needed; closed reports that the mailbox is
// closed and nothing is queued for q.
func (r *topicRouter) take(p *process.Process, q *listenQueue) (m process.Message, ok, closed bool) {
	for {
		queue := &r.inbox
		if q != nil {
			queue = &q.msgs
		}
		if len(*queue) > 0 {
			m = (*queue)[0]
			(*queue)[0] = process.Message{}
			*queue = (*queue)[1:]
			r.count--
			r.bytes -= msgBytes(m)
			return m, true, false
		}
		if r.count >= maxRouted || r.bytes >= maxRoutedBytes {
			return m, false, false // the others must be read first
		}
		next, got, done := p.TryReceive()
		if !got {
			return m, false, done
		}
		dest := &r.inbox
		if lq := r.listeners[next.Topic]; lq != nil {
			dest = &lq.msgs
		}
		*dest = append(*dest, next)
		r.count++
		r.bytes += msgBytes(next)
	}
}

func msgBytes(m process.Message) int { return 64 + len(m.Topic) + m.Payload.Size() }

// listenSource is a listening channel.
type listenSource struct {
	s *state
	L *lua.LState
	p *process.Process
	q *listenQueue
}

func (ls *listenSource) poll() (lua.LValue, bool, bool) {
	if ls.q.msgs == nil && ls.s.router.listeners[ls.q.topic] != ls.q {
		return lua.LNil, false, true // unlistened
	}
	m, ok, closed := ls.s.router.take(ls.p, ls.q)
	if !ok {
		return lua.LNil, false, closed
	}
	if ls.q.message {
		return ls.s.newUserData(ls.L, messageType, m), true, false
	}
	return toLua(ls.L, m.Payload), true, false
}

func (ls *listenSource) ready() <-chan struct{} { return ls.p.InboxReady() }
func (ls *listenSource) name() string           { return "listen " + ls.q.topic }

func (s *state) procListen(L *lua.LState) int {
	const fn = "process.listen"
	p := s.self(L, fn)
	topic := checkString(L, 1, fn, "topic")
	message := false
	if L.Get(2) != lua.LNil {
		message = lua.LVAsBool(checkTable(L, 2, fn, "options").RawGetString("message"))
	}
	switch {
	case topic == "" || strings.HasPrefix(topic, "@"):
		argError(L, 1, fn, "topic", "must not be empty or start with '@'")
	case s.router != nil && s.router.listeners[topic] != nil:
		return pushNilErr(L, fn+": the process listens to "+cutArg(topic)+" already")
	case s.router != nil && len(s.router.listeners) >= maxListeners:
		return pushNilErr(L, fn+": a process listens to at most 64 topics")
	}
	if s.router == nil {
		s.router = &topicRouter{listeners: map[string]*listenQueue{}}
	}
	q := &listenQueue{topic: topic, message: message}
	// Messages of the topic already sorted into the inbox stay there: they
	// came before the listening began.
	s.router.listeners[topic] = q
	L.Push(s.newUserData(L, channelType, &listenSource{s: s, L: L, p: p, q: q}))
	return 1
}

func (s *state) procUnlisten(L *lua.LState) int {
	const fn = "process.unlisten"
	s.self(L, fn)
	var ls *listenSource
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		ls, _ = ud.Value.(*listenSource)
	}
	if ls == nil {
		argError(L, 1, fn, "channel", "must be a channel process.listen returned")
	}
	r := s.router
	if r.listeners[ls.q.topic] != ls.q {
		L.Push(lua.LFalse)
		return 1
	}
	delete(r.listeners, ls.q.topic)
	// What it held goes to the inbox, after what the inbox holds.
	r.inbox = append(r.inbox, ls.q.msgs...)
	ls.q.msgs = nil
	L.Push(lua.LTrue)
	return 1
}
