package luart

import (
	"errors"
	"log/slog"
	"slices"
	"sort"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/value"
)

// The logger module: logger.debug/info/warn/error(message, fields) write
// to the app's log (the *slog.Logger the runtime was given) at that level,
// with the entry id, and the process's PID in a process or the request's
// method, path and request_id in a function.lua handler. fields is an
// optional table of name = value; a table value is logged as its JSON.
//
// Lua code is untrusted: a message or field value longer than
// maxLogText bytes is cut, a field name longer than maxLogName too, and
// at most maxLogFields fields are kept, while their text stays under
// maxLogFieldsText bytes: a line is a few tens of KiB at most.
// Logging a message returns nothing and never fails the caller for a
// value it cannot show; it logs a placeholder instead.
//
// A script can log in a loop: the lines of each entry (print's too) go
// through a limit of Options.LogLines a second (Runtime.logLines), apart
// from its handler's errors and from other entries' lines.

const (
	maxLogText   = 8 << 10
	maxLogFields = 32
	maxLogName   = 128
	// maxLogFieldsText: fields past it (names and values together) are
	// dropped, and counted.
	maxLogFieldsText = 16 << 10
	// maxLogRequest bounds the method and path of a request in a line.
	maxLogRequest = 256
)

// The kinds of lines limited per entry, as their "suppressed" lines name
// them.
const (
	logLinesKind      = "lua log lines"
	handlerErrorsKind = "lua handler errors"
)

// The functions are called either way: logger.info(msg, fields), or as
// the original runtime writes them, logger:info(msg, fields). A child
// logger (logger:named(name), logger:with(fields)) is a userdata with the
// same methods; its name is logged as the field "logger", its fields on
// every line it writes.
var loggerFuncs = map[string]lua.LGFunction{
	"debug": loggerAt(slog.LevelDebug),
	"info":  loggerAt(slog.LevelInfo),
	"warn":  loggerAt(slog.LevelWarn),
	"error": loggerAt(slog.LevelError),
	"named": bind((*state).loggerNamed),
	"with":  bind((*state).loggerWith),
}

const (
	loggerType = "wsrelay.logger"
	// maxLoggerName bounds a child logger's name, parents' included.
	maxLoggerName = 256
)

// childLogger is what logger:named and logger:with return. It is never
// changed: a child of it is a new one.
type childLogger struct {
	name   string
	fields []slog.Attr // at most maxLogFields, sorted
}

// size is about the bytes the logger holds.
func (c *childLogger) size() int {
	n := 64 + len(c.name)
	for _, a := range c.fields {
		n += 48 + len(a.Key) + len(a.Value.String())
	}
	return n
}

// loggerSelf returns the logger a function was called on and the index of
// its first argument: 2 after logger:fn(...) or child:fn(...), else 1.
func (s *state) loggerSelf(L *lua.LState) (*childLogger, int) {
	switch v := L.Get(1).(type) {
	case *lua.LUserData:
		if c, ok := v.Value.(*childLogger); ok {
			return c, 2
		}
	case *lua.LTable:
		if lua.LValue(v) == s.rt.libs.modules["logger"] {
			return nil, 2
		}
	}
	return nil, 1
}

func (s *state) loggerNamed(L *lua.LState) int {
	parent, at := s.loggerSelf(L)
	name := checkString(L, at, "logger:named", "name")
	if name == "" {
		argError(L, at, "logger:named", "name", "must not be empty")
	}
	child := &childLogger{name: name}
	if parent != nil {
		child.fields = parent.fields
		if parent.name != "" {
			child.name = parent.name + "." + name
		}
	}
	child.name = logtext.Cut(child.name, maxLoggerName)
	L.Charge(child.size())
	L.Push(s.newUserData(L, loggerType, child))
	return 1
}

func (s *state) loggerWith(L *lua.LState) int {
	parent, at := s.loggerSelf(L)
	fields := checkTable(L, at, "logger:with", "fields")
	child := &childLogger{}
	if parent != nil {
		child.name = parent.name
		child.fields = append(child.fields, parent.fields...)
	}
	for _, a := range fieldAttrs(L, fields) {
		i := slices.IndexFunc(child.fields, func(b slog.Attr) bool { return b.Key == a.Key })
		switch {
		case i >= 0:
			child.fields[i] = a // the child's value of a field wins
		case len(child.fields) < maxLogFields:
			child.fields = append(child.fields, a)
		}
	}
	sort.Slice(child.fields, func(i, j int) bool { return child.fields[i].Key < child.fields[j].Key })
	L.Charge(child.size())
	L.Push(s.newUserData(L, loggerType, child))
	return 1
}

func loggerAt(level slog.Level) lua.LGFunction {
	fn := "logger." + map[slog.Level]string{slog.LevelDebug: "debug", slog.LevelInfo: "info", slog.LevelWarn: "warn", slog.LevelError: "error"}[level]
	return bind(func(s *state, L *lua.LState) int {
		self, at := s.loggerSelf(L)
		msg := cutText(checkString(L, at, fn, "message"))
		var fields *lua.LTable
		if L.Get(at+1) != lua.LNil {
			fields = checkTable(L, at+1, fn, "fields")
		}
		log := s.rt.logLines.Get(s.prog.id) // its lines carry the entry id
		if !log.Enabled(level) {
			return 0
		}
		attrs := make([]slog.Attr, 0, 8)
		if s.proc != nil {
			attrs = append(attrs, slog.String("pid", s.proc.PID().String()))
		}
		if c := s.call; c != nil {
			attrs = append(attrs, slog.String("request_id", c.requestID(s.rt)), slog.String("method", logtext.Cut(c.r.Method, maxLogRequest)), slog.String("path", logtext.Cut(c.r.URL.Path, maxLogRequest)))
		}
		if self != nil {
			if self.name != "" {
				attrs = append(attrs, slog.String("logger", self.name))
			}
			attrs = append(attrs, self.fields...)
		}
		if fields != nil {
			attrs = append(attrs, fieldAttrs(L, fields)...)
		}
		log.LogAttrs(level, msg, attrs...)
		return 0
	})
}

// fieldAttrs turns a fields table into attributes, sorted by name, cut
// at maxLogFields and maxLogFieldsText.
func fieldAttrs(L *lua.LState, t *lua.LTable) []slog.Attr {
	var out []slog.Attr
	dropped, size := 0, 0
	t.ForEach(func(k, v lua.LValue) {
		if len(out) >= maxLogFields || size >= maxLogFieldsText {
			dropped++
			return
		}
		name := logtext.Cut(lua.LVAsString(k), maxLogName)
		if k.Type() != lua.LTString {
			name = "[" + logtext.Cut(k.String(), maxLogName) + "]"
		}
		switch v := v.(type) {
		case lua.LString:
			out = append(out, slog.String(name, cutText(string(v))))
		case lua.LNumber:
			if f := float64(v); f == float64(int64(f)) {
				out = append(out, slog.Int64(name, int64(f)))
			} else {
				out = append(out, slog.Float64(name, f))
			}
		case lua.LBool:
			out = append(out, slog.Bool(name, bool(v)))
		default:
			// Bounded like a value sent, but not charged: logging never
			// fails the caller. The text is built up to the cut only.
			if val, _, err := convert(nil, v, valueBound(L)); err == nil {
				out = append(out, slog.String(name, cutJSON(val)))
			} else {
				out = append(out, slog.String(name, "<"+v.Type().String()+">"))
			}
		}
		size += len(name) + len(out[len(out)-1].Value.String())
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if dropped > 0 {
		out = append(out, slog.Int("fields_dropped", dropped))
	}
	return out
}

func cutText(s string) string { return logtext.Cut(s, maxLogText) }

// cutJSON is cutText of v's JSON text, which is built only up to the cut
// (a value can encode to far more than its size).
func cutJSON(v value.Value) string {
	b, err := value.AppendJSONLimit(nil, v, maxLogText+1)
	if errors.Is(err, value.ErrTooLarge) && len(b) <= maxLogText {
		// It stopped before a piece too long to fit: cut all the same.
		return string(b) + "…(cut)"
	}
	if err != nil && !errors.Is(err, value.ErrTooLarge) {
		return "<" + err.Error() + ">"
	}
	return cutText(string(b))
}
