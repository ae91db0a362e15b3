package luart

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/internal/logtext"
)

// Handler serves HTTP requests with a function.lua program. Each request
// borrows a state from a pool, runs the program's chunk in a fresh
// environment (so globals and module-level locals never carry over from one
// request to the next), calls the method, and gives the state back.
//
// The method reads the request with http.request() and answers with
// http.response(). If it writes nothing the response is an empty 200 (or
// the status it set). A Lua error gives a 500 whose body names a request
// id; the message and traceback go to the log under that id. A handler
// running longer than Options.HandlerTimeout is stopped and gives a 503.
type Handler struct {
	rt      *Runtime
	prog    *Program
	timeout time.Duration
	pool    chan *state
}

// Handler returns the HTTP handler of a function.lua program. A timeout of
// zero means Options.HandlerTimeout.
func (rt *Runtime) Handler(prog *Program, timeout time.Duration) (*Handler, error) {
	if prog.kind != KindFunction {
		return nil, fmt.Errorf("luart: %s: only function.lua entries serve requests", prog.id)
	}
	if timeout <= 0 {
		timeout = rt.opts.HandlerTimeout
	}
	return &Handler{rt: rt, prog: prog, timeout: timeout, pool: make(chan *state, 4*runtime.GOMAXPROCS(0))}, nil
}

func (h *Handler) get() *state {
	select {
	case s := <-h.pool:
		return s
	default:
		return h.rt.newState(h.prog, nil)
	}
}

func (h *Handler) put(s *state) {
	select {
	case h.pool <- s:
	default:
		s.close()
	}
}

// Close releases the pooled states.
func (h *Handler) Close() {
	for {
		select {
		case s := <-h.pool:
			s.close()
		default:
			return
		}
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	s := h.get()
	c := &httpCall{w: w, r: r, status: http.StatusOK, maxBody: h.rt.opts.MaxBodyBytes}
	err := h.call(ctx, s, c)
	if err == nil {
		c.writeHeader()
		h.put(s)
		return
	}
	// A state that failed may hold a half-finished call; start afresh.
	s.close()
	id := c.requestID(h.rt) // the one its logger lines carry, if any
	status, text := http.StatusInternalServerError, "internal server error"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		status, text, err = http.StatusServiceUnavailable, "handler timed out", fmt.Errorf("%w after %v: %w", ErrTimeout, h.timeout, err)
	}
	h.rt.handlerErrors.Get(h.prog.id).Error("lua handler failed", "request_id", id, // with the entry id, limited per entry
		"method", logtext.Cut(r.Method, maxLogRequest), "path", logtext.Cut(r.URL.Path, maxLogRequest), "error", cutText(err.Error()))
	if c.wrote {
		return // the status line is out; the client sees a cut response
	}
	w.Header().Del("X-WS-Relay")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Request-Id", id)
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s (request id %s)\n", text, id)
}

func (h *Handler) call(ctx context.Context, s *state, c *httpCall) (err error) {
	s.ctx, s.call, s.sent = ctx, c, 0
	s.libraries = nil // loaded again, like the file's own top-level code
	s.limits.ResetMemory()
	s.L.SetContext(ctx)
	defer func() {
		s.releaseCPU()
		s.call, s.ctx = nil, context.Background()
		s.L.RemoveContext()
		s.L.SetTop(0)
	}()
	env := s.L.CreateTable(0, 4)
	mt := s.L.CreateTable(0, 2)
	mt.RawSetString("__index", s.G)
	// Locked: the state's globals behind it outlive the call, so code
	// that reached them could leave values for the next request.
	mt.RawSetString("__metatable", lua.LString("locked"))
	s.L.SetMetatable(env, mt)
	env.RawSetString("_G", env)
	fn, err := s.entry(env)
	if err != nil {
		return err
	}
	s.L.Push(fn)
	if err := s.L.PCall(0, 0, nil); err != nil {
		return luaError(err)
	}
	return nil
}

var _ http.Handler = (*Handler)(nil)
