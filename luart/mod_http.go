package luart

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/value"
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
	bodyErr error
	read    bool
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
		t := L.CreateTable(0, len(q))
		for k, vs := range q {
			if len(vs) > 0 {
				t.RawSetString(k, lua.LString(vs[0]))
			}
		}
		L.Push(t)
		return 1
	},
	"body": func(L *lua.LState) int {
		b, err := checkCall(L, "req:body").readBody()
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("req:body: " + err.Error()))
			return 2
		}
		L.Push(lua.LString(b))
		return 1
	},
	"body_json": func(L *lua.LState) int {
		b, err := checkCall(L, "req:body_json").readBody()
		var v value.Value
		if err == nil {
			v, err = value.ParseJSON(b)
		}
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString("req:body_json: " + err.Error()))
			return 2
		}
		L.Push(toLua(L, v))
		return 1
	},
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
		c.w.Header().Set("Content-Type", ct)
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
		v := checkValue(L, 2, "res:write_json", "value")
		b, err := value.AppendJSON(nil, v)
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

// resSetHeader is res:header and its alias res:set_header.
func resSetHeader(L *lua.LState) int {
	c := checkCall(L, "res:header")
	name := checkString(L, 2, "res:header", "name")
	val := checkString(L, 3, "res:header", "value")
	if c.wrote {
		L.RaiseError("res:header: the response has already started; set headers before res:write")
	}
	c.w.Header().Set(name, val)
	return 0
}
