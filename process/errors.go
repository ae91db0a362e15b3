package process

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wsrelay/wsrelay/pid"
)

// Exit reasons. A process's Result.Err is nil for a normal exit; otherwise it
// is one of these (possibly wrapped) or the error its body returned. Match
// with errors.Is.
var (
	// ErrTerminated: the process was terminated, or did not end within the
	// grace period after a cancel.
	ErrTerminated = errors.New("terminated")
	// ErrNoProc: the monitored or linked process did not exist or had
	// already ended.
	ErrNoProc = errors.New("noproc")
	// ErrNoConnection: the node of the monitored or linked process was lost.
	ErrNoConnection = errors.New("noconnection")
	// ErrLinkDown: a linked process ended abnormally and this process did
	// not trap links. The error is a *LinkDownError.
	ErrLinkDown = errors.New("link down")
	// ErrPanic: the process body panicked. The error is a *PanicError.
	ErrPanic = errors.New("panic")
	// ErrStop, returned by a reactive handler, ends the process normally.
	ErrStop = errors.New("stop")
)

// Errors of operations.
var (
	// ErrUnknownName: no process is registered under the name.
	ErrUnknownName = errors.New("unknown name")
	// ErrNameTaken: the name is registered to another live process.
	ErrNameTaken = errors.New("name already registered")
	// ErrInvalidName: the name cannot be registered (empty, longer than
	// MaxNameLen bytes, starts with '{', or contains a control character).
	ErrInvalidName = errors.New("invalid name")
	// ErrTooManyNames: the process, or the node, holds as many names as
	// it may (Options.MaxNamesPerProcess, Options.MaxNames).
	ErrTooManyNames = errors.New("too many names")
	// ErrMailboxFull: the receiver's mailbox is at its bound; the message was
	// dropped, counted and logged.
	ErrMailboxFull = errors.New("mailbox full")
	// ErrBacklog: too much waits to be sent to the receiver's node (a
	// transport's bound); the signal was dropped. A sender that can wait
	// waits on Node.MailboxRoom, as for a full mailbox.
	ErrBacklog = errors.New("too much waiting to be sent to the node")
	// ErrEmptyTopic: a message topic must not be empty.
	ErrEmptyTopic = errors.New("empty topic")
	// ErrReservedTopic: topics starting with '@' are reserved for the runtime.
	ErrReservedTopic = errors.New("reserved topic")
	// ErrUnknownHost: no process host of that name exists on the node.
	ErrUnknownHost = errors.New("unknown process host")
	// ErrHostFull: the process host runs as many processes as it may
	// (HostOptions.MaxProcesses); the spawn was refused.
	ErrHostFull = errors.New("process host full")
	// ErrHostExists: a process host of that name was already added.
	ErrHostExists = errors.New("process host already exists")
	// ErrShuttingDown: the node is shutting down and spawns no processes.
	ErrShuttingDown = errors.New("node is shutting down")
	// ErrNodeDown: the PID's node is down or unknown to the transport; a
	// Transport's Deliver fails with it (possibly wrapped). It is the
	// cluster's ErrNodeDown.
	ErrNodeDown = errors.New("node is down or unknown")
	// ErrNoTransport: the PID is on another node and no cluster transport is
	// configured.
	ErrNoTransport = errors.New("no cluster transport configured")
	// ErrNotLocal: the operation needs a process of this node.
	ErrNotLocal = errors.New("process is not on this node")
	// ErrSelf: a process cannot link to or monitor itself.
	ErrSelf = errors.New("a process cannot link to or monitor itself")
	// ErrNoticeTooLarge: a notice left with a process on another node
	// (Process.MonitorNotice) is larger than MaxNoticeBytes.
	ErrNoticeTooLarge = errors.New("notice too large")
)

// LinkDownError is the exit reason of a process ended because a process
// linked to it ended abnormally.
type LinkDownError struct {
	PID    pid.PID // the linked process that ended
	Reason error   // why it ended
}

func (e *LinkDownError) Error() string { return "link down: " + e.PID.String() }

// Is makes errors.Is(err, ErrLinkDown) true.
func (e *LinkDownError) Is(target error) bool { return target == ErrLinkDown }

// Unwrap returns the linked process's exit reason.
func (e *LinkDownError) Unwrap() error { return e.Reason }

// PanicError is the exit reason of a process whose body panicked.
type PanicError struct {
	Value any    // what was passed to panic
	Stack string // the goroutine's stack at the panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v\n%s", e.Value, e.Stack) }

// Is makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// ShutdownError lists the processes that did not stop when a node shut down.
type ShutdownError struct {
	// Terminated were still running when the deadline came and were
	// terminated.
	Terminated []pid.PID
	// Stuck are Go bodies that were terminated but whose goroutine had not
	// returned by the deadline (a body that ignores its context).
	Stuck []pid.PID
}

func (e *ShutdownError) Error() string {
	var b strings.Builder
	b.WriteString("shutdown: ")
	if len(e.Terminated) > 0 {
		fmt.Fprintf(&b, "%d process(es) did not stop in time and were terminated: %s", len(e.Terminated), pidList(e.Terminated))
	}
	if len(e.Stuck) > 0 {
		if len(e.Terminated) > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d goroutine(s) still running after termination: %s", len(e.Stuck), pidList(e.Stuck))
	}
	return b.String()
}

func pidList(ps []pid.PID) string {
	const most = 10
	var parts []string
	for i, p := range ps {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(ps)-most))
			break
		}
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ", ")
}

// OpError reports a failed operation: what was done, to what, and why.
// Match its cause with errors.Is.
type OpError struct {
	Op  string // "spawn", "send", "monitor", "link", "register", ...
	Arg string // the name, PID or host concerned; may be empty
	Err error
}

func (e *OpError) Error() string {
	if e.Arg == "" {
		return "process: " + e.Op + ": " + e.Err.Error()
	}
	return "process: " + e.Op + " " + e.Arg + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }
