// Package process is wsrelay's actor runtime: a Node holds named process
// hosts, and processes run on them. A process has a PID, a bounded mailbox
// of messages, a separate queue of events (EXIT, LINK_DOWN, CANCEL), and
// may be monitored, linked and registered under names.
//
// # Three kinds of body
//
// A blocking process (Node.Spawn with a Func) runs on its own goroutine and
// receives with Receive and ReceiveEvent.
// A reactive process (Node.SpawnReactive with a Handler) has no goroutine
// while idle: delivering a message schedules one, which calls the handler
// for every queued message and event and then goes away. WebSocket
// connections are reactive processes, so an idle connection costs memory,
// not a goroutine.
// A scheduled process (Node.SpawnScheduled) is a blocking process whose
// body the caller's own scheduler runs: the node calls its wake function
// when something arrives, and the body ends it with Finish. Lua processes
// are of this kind (the luart package runs them on a pool of workers).
//
// # Guarantees
//
//   - Send never blocks. Signals from one sender to one receiver arrive in
//     the order sent: messages among themselves, and an event (the EXIT of
//     a monitored process, LINK_DOWN, CANCEL) after the messages its
//     sender sent before it. Events from other senders overtake a backlog
//     of messages. See order.go. A send to an ended process is dropped and counted
//     (Stats.DeadLetters); a send to a full mailbox is dropped, counted,
//     logged, and returns ErrMailboxFull.
//   - Payloads are value.Value, which are immutable: no receiver can observe
//     a change the sender makes after sending.
//   - A monitor gets exactly one EXIT per monitored process: its Result, or
//     ErrNoProc when it had already ended, or ErrNoConnection when its node
//     was lost. Monitoring the same process twice is one monitor.
//   - A link propagates abnormal ends only: the other side gets LINK_DOWN if
//     it traps links, and is otherwise terminated with a *LinkDownError,
//     which propagates along its own links.
//   - When a process ends, its names are released and it leaves the
//     process table before monitors and links are told, so a watcher may
//     re-register a name as soon as it hears of the end.
//   - Cancel delivers CANCEL and closes the inbox to new messages; a process
//     still running after its host's grace period is terminated.
//   - A panicking body ends its process with a *PanicError carrying the
//     stack; the node carries on.
//   - A process that ends with an error nobody hears of (no monitor, no
//     link) gets a crash report: one error line on the node's logger with
//     its PID, SpawnOptions.Entry and the error, limited per node to
//     Options.CrashReports lines a second (see crash.go).
//   - Only a name's holder releases it (Process.Unregister,
//     Node.UnregisterBy); a keeper may reserve a name across the lives of
//     the processes it registers under it (Node.Reserve). Code holding the
//     *Node acts with the node's authority (Register, Unregister).
//
// # Other nodes
//
// PIDs carry their node's name. Operations on another node's PIDs go
// through a transport (Options.Transport; the cluster package implements
// one over NATS); a node without one fails them with ErrNoTransport.
// What a transport implements and calls is in package process/transport,
// apart from this package's API. Options.ClusterNames
// adds names that hold across the cluster, which Resolve consults before
// the node's own.
//
// # Implementation notes
//
// Each process has one mutex guarding its state and relation table; no code
// path holds two process locks at once, so relation changes cannot
// deadlock. Relations are written on both sides one at a time, and the side
// written first is re-checked afterwards, which closes the window in which
// a process could end unnoticed between the two writes.
package process
