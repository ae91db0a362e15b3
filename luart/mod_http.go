package luart

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// The http module of function.lua handlers: http.request() and
// http.response() for the request being served.

const (
	requestType  = "wsrelay.http.request"
	responseType = "wsrelay.http.response"
)

// httpCall is the request a pooled state is serving.
type httpCall struct {
	w       http.ResponseWriter
	r       *http.Request
	maxBody int64
	status  int
	wrote   bool // the status line has been written
	body    []byte
	text    lua.LString // body as the one Lua string req:body returns, once made
	bodyErr error
	read    bool
	id      string // the request id, once logged or failed
}

// requestID returns the request's id, made on first use: logger lines
// and the error page of a failed request share it.
func (c *httpCall) requestID(rt *Runtime) string {
	if c.id == "" {
		c.id = rt.requestID()
	}
	return c.id
}

func (c *httpCall) writeHeader() {
	if !c.wrote {
		c.wrote = true
		c.w.WriteHeader(c.status)
	}
}

func (c *httpCall) readBody() ([]byte, error) {
	if c.read {
		return c.body, c.bodyErr
	}
	c.read = true
	if c.r.Body == nil {
		return nil, nil
	}
	c.body, c.bodyErr = io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, c.maxBody))
	var mbe *http.MaxBytesError
	if errors.As(c.bodyErr, &mbe) {
		c.bodyErr = errors.New("request body is larger than " + strconv.FormatInt(mbe.Limit, 10) + " bytes")
	}
	return c.body, c.bodyErr
}

var httpFuncs = map[string]lua.LGFunction{
	"request":  bind((*state).httpRequest),
	"response": bind((*state).httpResponse),
}

// httpLib is the http module: its functions and the read-only constant
// tables http.STATUS (http.STATUS.CREATED == 201), http.METHOD
// (http.METHOD.POST == "POST") and http.CONTENT (http.CONTENT.JSON ==
// "application/json").
func (b *libBuilder) httpLib() *lua.LTable {
	t := b.funcs(httpFuncs)
	status := b.L.CreateTable(0, 80)
	for name, code := range httpStatusNames() {
		status.RawSetString(name, lua.LNumber(code))
	}
	t.RawSetString("STATUS", b.readOnly("http.STATUS", status))
	methods := b.L.CreateTable(0, len(httpMethodNames))
	for _, m := range httpMethodNames {
		methods.RawSetString(m, lua.LString(m))
	}
	t.RawSetString("METHOD", b.readOnly("http.METHOD", methods))
	content := b.L.CreateTable(0, len(httpContentTypes))
	for name, ct := range httpContentTypes {
		content.RawSetString(name, lua.LString(ct))
	}
	t.RawSetString("CONTENT", b.readOnly("http.CONTENT", content))
	return t
}

var httpMethodNames = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

var httpContentTypes = map[string]string{
	"JSON":      "application/json",
	"TEXT":      "text/plain",
	"HTML":      "text/html",
	"XML":       "application/xml",
	"FORM":      "application/x-www-form-urlencoded",
	"MULTIPART": "multipart/form-data",
	"BINARY":    "application/octet-stream",
	"STREAM":    "text/event-stream",
}

// httpStatusNames names every status Go's net/http knows by its text in
// capitals, words joined by '_' (404 NOT_FOUND, 418 IM_A_TEAPOT), with the
// other names in use for a few of them.
func httpStatusNames() map[string]int {
	out := map[string]int{}
	for code := 100; code < 600; code++ {
		text := http.StatusText(code)
		if text == "" {
			continue
		}
		var b strings.Builder
		sep := false
		for _, r := range strings.ReplaceAll(text, "'", "") {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				if sep && b.Len() > 0 {
					b.WriteByte('_')
				}
				b.WriteRune(unicode.ToUpper(r))
				sep = false
			} else {
				sep = true
			}
		}
		out[b.String()] = code
	}
	for name, code := range map[string]int{
		"PAYLOAD_TOO_LARGE": 413, "CONTENT_TOO_LARGE": 413, "REQUEST_ENTITY_TOO_LARGE": 413,
		"UNPROCESSABLE_ENTITY": 422, "UNPROCESSABLE_CONTENT": 422, "URI_TOO_LONG": 414,
		"RANGE_NOT_SATISFIABLE": 416, "SERVER_ERROR": 500,
	} {
		out[name] = code
	}
	return out
}

func (s *state) currentCall(L *lua.LState, fn string) *httpCall {
	if s.call == nil {
		L.RaiseError("%s: no request is being served", fn)
	}
	return s.call
}

func (s *state) httpRequest(L *lua.LState) int {
	L.Push(s.newUserData(L, requestType, s.currentCall(L, "http.request")))
	return 1
}

func (s *state) httpResponse(L *lua.LState) int {
	L.Push(s.newUserData(L, responseType, s.currentCall(L, "http.response")))
	return 1
}

var requestMethods = map[string]lua.LGFunction{
	"method":      reqString(func(c *httpCall) string { return c.r.Method }),
	"path":        reqString(func(c *httpCall) string { return c.r.URL.Path }),
	"host":        reqString(func(c *httpCall) string { return c.r.Host }),
	"remote_addr": reqString(func(c *httpCall) string { return c.r.RemoteAddr }),
	"query":       reqLookup("req:query", func(c *httpCall, k string) (string, bool) { return firstOf(c.r.URL.Query()[k]) }),
	"header":      reqLookup("req:header", func(c *httpCall, k string) (string, bool) { return firstOf(c.r.Header.Values(k)) }),
	"param": reqLookup("req:param", func(c *httpCall, k string) (string, bool) {
		v := c.r.PathValue(k)
		return v, v != ""
	}),
	"query_params": func(L *lua.LState) int {
		c := checkCall(L, "req:query_params")
		q := c.r.URL.Query()
		// A URL of a megabyte holds a quarter of a million parameters:
		// the table is charged before it is made.
		size := jsonTableCost
		for k, vs := range q {
			if len(vs) > 0 {
				size += jsonEntryCost + jsonSlotCost + 2*jsonStringCost + len(k) + len(vs[0])
			}
		}
		L.CheckAlloc(size)
		t := L.CreateTable(0, len(q))
		for k, vs := range q {
			if len(vs) > 0 {
				t.RawSetString(k, lua.LString(vs[0]))
			}
		}
		L.Push(t)
		return 1
	},
	"params": func(L *lua.LState) int {
		c := checkCall(L, "req:params")
		names := patternParams(c.r.Pattern)
		t := L.CreateTable(0, len(names))
		for _, n := range names {
			if v := c.r.PathValue(n); v != "" {
				t.RawSetString(n, lua.LString(v))
			}
		}
		L.Push(t)
		return 1
	},
	"content_type": func(L *lua.LState) int {
		c := checkCall(L, "req:content_type")
		ct := c.r.Header.Get("Content-Type")
		if ct == "" {
			L.Push(lua.LNil)
			return 1
		}
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil { // unparsable parameters: the type before them
			mt, _, _ = strings.Cut(ct, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
		}
		L.Push(lua.LString(mt))
		return 1
	},
	"has_body": func(L *lua.LState) int {
		c := checkCall(L, "req:has_body")
		L.Push(lua.LBool(c.r.Body != nil && c.r.Body != http.NoBody && c.r.ContentLength != 0))
		return 1
	},
	"body": func(L *lua.LState) int {
		c := checkCall(L, "req:body")
		b, err := c.readBody()
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("req:body: " + err.Error()))
			return 2
		}
		// One string per request, charged once: a loop of req:body()
		// keeping each would otherwise make a new 10 MiB copy each time.
		if len(c.text) != len(b) {
			L.CheckAlloc(len(b))
			c.text = lua.LString(b)
		}
		L.Push(c.text)
		return 1
	},
	"body_json": func(L *lua.LState) int {
		b, err := checkCall(L, "req:body_json").readBody()
		v := lua.LValue(lua.LNil)
		if err == nil {
			// The decoder copies every string it makes, so it may read the
			// body in place (nothing writes to it once read); it charges
			// the memory budget as it builds (jsondec.go).
			v, err = decodeJSON(L, unsafe.String(unsafe.SliceData(b), len(b)))
		}
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("req:body_json: " + err.Error()))
			return 2
		}
		L.Push(v)
		return 1
	},
}

// patternParams returns the wildcard names of a ServeMux pattern
// ("GET /items/{id}/{rest...}" → id, rest).
func patternParams(pattern string) []string {
	var names []string
	for {
		_, rest, ok := strings.Cut(pattern, "{")
		if !ok {
			return names
		}
		name, after, ok := strings.Cut(rest, "}")
		if !ok {
			return names
		}
		if name = strings.TrimSuffix(name, "..."); name != "" && name != "$" {
			names = append(names, name)
		}
		pattern = after
	}
}

func firstOf(vs []string) (string, bool) {
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

func checkCall(L *lua.LState, fn string) *httpCall {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if c, ok := ud.Value.(*httpCall); ok {
			return c
		}
	}
	L.RaiseError("%s: call it with ':', as in %s(...)", fn, fn)
	return nil
}

func reqString(get func(*httpCall) string) lua.LGFunction {
	return func(L *lua.LState) int {
		L.Push(lua.LString(get(checkCall(L, "request method"))))
		return 1
	}
}

// reqLookup makes a method taking a name and returning its value or nil.
func reqLookup(fn string, get func(*httpCall, string) (string, bool)) lua.LGFunction {
	return func(L *lua.LState) int {
		c := checkCall(L, fn)
		name := checkString(L, 2, fn, "name")
		if v, ok := get(c, name); ok {
			L.Push(lua.LString(v))
		} else {
			L.Push(lua.LNil)
		}
		return 1
	}
}

var responseMethods = map[string]lua.LGFunction{
	"set_status": func(L *lua.LState) int {
		c := checkCall(L, "res:set_status")
		code := checkInt(L, 2, "res:set_status", "status")
		if code < 100 || code > 999 {
			argError(L, 2, "res:set_status", "status", "must be an HTTP status from 100 to 999, got "+strconv.Itoa(code))
		}
		if c.wrote {
			L.RaiseError("res:set_status: the response has already started; set the status before res:write")
		}
		c.status = code
		return 0
	},
	"header":     resSetHeader,
	"set_header": resSetHeader,
	"set_content_type": func(L *lua.LState) int {
		c := checkCall(L, "res:set_content_type")
		ct := checkString(L, 2, "res:set_content_type", "content type")
		if c.wrote {
			L.RaiseError("res:set_content_type: the response has already started")
		}
		setHeader(L, c, "res:set_content_type", "Content-Type", ct)
		return 0
	},
	"write": func(L *lua.LState) int {
		c := checkCall(L, "res:write")
		body := checkString(L, 2, "res:write", "body")
		c.writeHeader()
		if _, err := io.WriteString(c.w, body); err != nil {
			L.Push(lua.LFalse)
			L.Push(lua.LString("res:write: " + err.Error()))
			return 2
		}
		L.Push(lua.LTrue)
		return 1
	},
	"write_json": func(L *lua.LState) int {
		c := checkCall(L, "res:write_json")
		b, err := encodeValue(L, checkValue(L, 2, "res:write_json", "value"), "res:write_json")
		if err != nil {
			argError(L, 2, "res:write_json", "value", "cannot be encoded: "+err.Error())
		}
		if !c.wrote && c.w.Header().Get("Content-Type") == "" {
			c.w.Header().Set("Content-Type", "application/json")
		}
		c.writeHeader()
		if _, err := c.w.Write(b); err != nil {
			L.Push(lua.LFalse)
			L.Push(lua.LString("res:write_json: " + err.Error()))
			return 2
		}
		L.Push(lua.LTrue)
		return 1
	},
}

// Bounds of a response's headers. They live in Go's header map, outside
// the Lua state, where the memory budget does not see them: a loop of
// res:header with new names would grow it without bound.
const (
	maxResponseHeaders     = 100
	maxResponseHeaderBytes = 64 << 10 // names and values together
)

// resSetHeader is res:header and its alias res:set_header.
func resSetHeader(L *lua.LState) int {
	c := checkCall(L, "res:header")
	name := checkString(L, 2, "res:header", "name")
	val := checkString(L, 3, "res:header", "value")
	if c.wrote {
		L.RaiseError("res:header: the response has already started; set headers before res:write")
	}
	setHeader(L, c, "res:header", name, val)
	return 0
}

// setHeader replaces a response header, within maxResponseHeaders and
// maxResponseHeaderBytes (a Lua error past them).
func setHeader(L *lua.LState, c *httpCall, fn, name, val string) {
	h := c.w.Header()
	key := http.CanonicalHeaderKey(name)
	size := len(key) + len(val)
	for k, vs := range h {
		if k == key {
			continue // replaced
		}
		size += len(k)
		for _, v := range vs {
			size += len(v)
		}
	}
	if _, ok := h[key]; !ok && len(h) >= maxResponseHeaders {
		L.RaiseError("%s: the response has %d headers already, the limit", fn, maxResponseHeaders)
	}
	if size > maxResponseHeaderBytes {
		L.RaiseError("%s: the response's headers would be %d bytes, over the limit of %d", fn, size, maxResponseHeaderBytes)
	}
	h.Set(name, val)
}
