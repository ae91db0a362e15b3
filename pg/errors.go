package pg

import "errors"

// Errors of the process groups. Match with errors.Is; the errors returned
// wrap them with what was wrong.
var (
	// ErrUnknownScope: no pg.scope of that name.
	ErrUnknownScope = errors.New("unknown process-group scope")
	// ErrInvalid: a missing, empty or too long argument.
	ErrInvalid = errors.New("invalid argument")
	// ErrNotMember: a leave for groups the process is a member of none of.
	ErrNotMember = errors.New("not a member of the group")
	// ErrNotLocal: a join or leave for a process of another node (each
	// node owns its members).
	ErrNotLocal = errors.New("process of another node")
	// ErrNoProc: a join for a process that has ended.
	ErrNoProc = errors.New("no such process")
	// ErrLimit: a bound of the scope (ScopeOptions) would be passed.
	ErrLimit = errors.New("process-group limit reached")
	// ErrClosed: the subscription, or the service, is closed.
	ErrClosed = errors.New("closed")
)
