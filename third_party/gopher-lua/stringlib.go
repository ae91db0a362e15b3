package lua

import (
	"fmt"
	"strings"

	"github.com/yuin/gopher-lua/pm"
)

const emptyLString LString = LString("")

func OpenString(L *LState) int {
	var mod *LTable
	//_, ok := L.G.builtinMts[int(LTString)]
	//if !ok {
	mod = L.RegisterModule(StringLibName, strFuncs).(*LTable)
	gmatch := L.NewClosure(strGmatch, L.NewFunction(strGmatchIter))
	mod.RawSetString("gmatch", gmatch)
	mod.RawSetString("gfind", gmatch)
	mod.RawSetString("__index", mod)
	L.G.builtinMts[int(LTString)] = mod
	//}
	L.Push(mod)
	return 1
}

var strFuncs = map[string]LGFunction{
	"byte":    strByte,
	"char":    strChar,
	"dump":    strDump,
	"find":    strFind,
	"format":  strFormat,
	"gsub":    strGsub,
	"len":     strLen,
	"lower":   strLower,
	"match":   strMatch,
	"rep":     strRep,
	"reverse": strReverse,
	"sub":     strSub,
	"upper":   strUpper,
}

func strByte(L *LState) int {
	str := L.CheckString(1)
	start := L.OptInt(2, 1) - 1
	end := L.OptInt(3, -1)
	l := len(str)
	if start < 0 {
		start = l + start + 1
	}
	if end < 0 {
		end = l + end + 1
	}

	if L.GetTop() == 2 {
		if start < 0 || start >= l {
			return 0
		}
		L.Push(LNumber(str[start]))
		return 1
	}

	start = intMax(start, 0)
	end = intMin(end, l)
	if end < 0 || end <= start || start >= l {
		return 0
	}

	for i := start; i < end; i++ {
		L.Push(LNumber(str[i]))
	}
	return end - start
}

func strChar(L *LState) int {
	top := L.GetTop()
	bytes := make([]byte, L.GetTop())
	for i := 1; i <= top; i++ {
		bytes[i-1] = uint8(L.CheckInt(i))
	}
	L.Push(LString(string(bytes)))
	return 1
}

func strDump(L *LState) int {
	L.RaiseError("GopherLua does not support the string.dump")
	return 0
}

func strFind(L *LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	if len(pattern) == 0 {
		L.Push(LNumber(1))
		L.Push(LNumber(0))
		return 2
	}
	init := luaIndex2StringIndex(str, L.OptInt(3, 1), true)
	plain := false
	if L.GetTop() == 4 {
		plain = LVAsBool(L.Get(4))
	}

	if plain {
		pos := strings.Index(str[init:], pattern)
		if pos < 0 {
			L.Push(LNil)
			return 1
		}
		L.Push(LNumber(init+pos) + 1)
		L.Push(LNumber(init + pos + len(pattern)))
		return 2
	}

	mds, err := pm.FindWithCheck(pattern, unsafeFastStringToReadOnlyBytes(str), init, 1, L.patternCheck()) // wsrelay patch
	if err != nil {
		L.RaiseError(err.Error())
	}
	if len(mds) == 0 {
		L.Push(LNil)
		return 1
	}
	md := mds[0]
	L.Push(LNumber(md.Capture(0) + 1))
	L.Push(LNumber(md.Capture(1)))
	for i := 2; i < md.CaptureLength(); i += 2 {
		if md.IsPosCapture(i) {
			L.Push(LNumber(md.Capture(i)))
		} else {
			L.Push(LString(L.substr(str, md.Capture(i), md.Capture(i+1)))) // wsrelay patch
		}
	}
	return md.CaptureLength()/2 + 1
}

// wsrelay patch (all states): string.format reads the format as Lua 5.1
// does (flags "-+ #0", a width and a precision of two digits at most, one
// of the conversions c d i o u x X e E f g G q s) and makes one conversion
// at a time, each of one argument, checking before it is made that what
// is made so far and its bound fit the memory budget: Go's own
// format verbs (%v, %#v of a table, %[n] reusing an argument, '*'
// widths) are refused, since they made results far larger than any
// bound computed from the format and the arguments. A missing argument
// is an error, as in Lua.
func strFormat(L *LState) int {
	str := L.CheckString(1)
	top := L.GetTop()
	var b strings.Builder
	arg := 1
	for i := 0; i < len(str); {
		if str[i] != '%' {
			j := strings.IndexByte(str[i:], '%')
			if j < 0 {
				j = len(str) - i
			}
			L.checkPending(b.Len() + j)
			b.WriteString(str[i : i+j])
			i += j
			continue
		}
		i++
		if i < len(str) && str[i] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		start := i
		for i < len(str) && strings.IndexByte("-+ #0", str[i]) >= 0 {
			i++
		}
		if i-start > 5 {
			L.RaiseError("invalid format (repeated flags)")
		}
		for n := 0; i < len(str) && str[i] >= '0' && str[i] <= '9'; n++ {
			if n == 2 {
				L.RaiseError("invalid format (width or precision too long)")
			}
			i++
		}
		if i < len(str) && str[i] == '.' {
			i++
			for n := 0; i < len(str) && str[i] >= '0' && str[i] <= '9'; n++ {
				if n == 2 {
					L.RaiseError("invalid format (width or precision too long)")
				}
				i++
			}
		}
		if i >= len(str) {
			L.RaiseError("invalid option '%%' to 'format'")
		}
		spec, conv := str[start:i], str[i]
		i++
		arg++
		if arg > top {
			L.ArgError(arg, "no value")
		}
		// A piece is at most its width (99) plus its text: 99 digits of
		// precision and 309 of the integer part of a float at most.
		const numberBound = 99 + 99 + 330
		switch conv {
		case 'd', 'i', 'u':
			n := L.CheckNumber(arg)
			L.checkPending(b.Len() + numberBound)
			b.WriteString(fmt.Sprintf("%"+spec+"d", int64(n)))
		case 'o', 'x', 'X':
			n := L.CheckNumber(arg)
			L.checkPending(b.Len() + numberBound)
			b.WriteString(fmt.Sprintf("%"+spec+string(conv), int64(n)))
		case 'c':
			n := L.CheckNumber(arg)
			L.checkPending(b.Len() + numberBound)
			b.WriteString(fmt.Sprintf("%"+spec+"s", string([]byte{byte(int64(n))})))
		case 'e', 'E', 'f', 'g', 'G':
			n := L.CheckNumber(arg)
			L.checkPending(b.Len() + numberBound)
			b.WriteString(fmt.Sprintf("%"+spec+string(conv), float64(n)))
		case 'q':
			q := L.CheckString(arg)
			L.checkPending(b.Len() + quotedLen(q))
			writeQuoted(&b, q)
		case 's':
			var text string
			switch v := L.Get(arg).(type) {
			case LString:
				text = string(v)
			case LNumber:
				text = v.String()
			default:
				text = v.String()
			}
			L.checkPending(b.Len() + len(text) + 99)
			b.WriteString(fmt.Sprintf("%"+spec+"s", text))
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", conv)
		}
	}
	L.checkAlloc(b.Len()) // the result, now made, is charged
	L.Push(LString(b.String()))
	return 1
}

// quotedLen is the length of s as %q writes it.
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\', '\n', '\r':
			n++
		case 0:
			n += 3
		}
	}
	return n
}

// writeQuoted writes s between double quotes as Lua 5.1 reads it back:
// a quote, a backslash and a newline escaped with a backslash, a carriage
// return as \r and a zero byte as \000.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString("\\r")
		case 0:
			b.WriteString("\\000")
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

func strGsub(L *LState) int {
	str := L.CheckString(1)
	pat := L.CheckString(2)
	L.CheckTypes(3, LTString, LTTable, LTFunction)
	repl := L.CheckAny(3)
	limit := L.OptInt(4, -1)

	mds, err := pm.FindWithCheck(pat, unsafeFastStringToReadOnlyBytes(str), 0, limit, L.patternCheck()) // wsrelay patch
	if err != nil {
		L.RaiseError(err.Error())
	}
	if len(mds) == 0 {
		L.SetTop(1)
		L.Push(LNumber(0))
		return 2
	}
	switch lv := repl.(type) {
	case LString:
		L.Push(LString(strGsubStr(L, str, string(lv), mds)))
	case *LTable:
		L.Push(LString(strGsubTable(L, str, lv, mds)))
	case *LFunction:
		L.Push(LString(strGsubFunc(L, str, lv, mds)))
	}
	L.Push(LNumber(len(mds)))
	return 2
}

type replaceInfo struct {
	Indicies []int
	String   string
}

func checkCaptureIndex(L *LState, m *pm.MatchData, idx int) {
	if idx <= 2 {
		return
	}
	if idx >= m.CaptureLength() {
		L.RaiseError("invalid capture index")
	}
}

func capturedString(L *LState, m *pm.MatchData, str string, idx int) string {
	checkCaptureIndex(L, m, idx)
	if idx >= m.CaptureLength() && idx == 2 {
		idx = 0
	}
	if m.IsPosCapture(idx) {
		return fmt.Sprint(m.Capture(idx))
	} else {
		return L.substr(str, m.Capture(idx), m.Capture(idx+1)) // wsrelay patch
	}

}

// strGsubDoReplace builds the result of gsub. wsrelay patch: upstream
// copied the whole string once per replacement (quadratic); this builds it
// once, after checking its size against the memory budget. The matches
// are in order and do not overlap.
func strGsubDoReplace(L *LState, str string, info []replaceInfo) string {
	size := len(str)
	for _, replace := range info {
		size += len(replace.String) - (replace.Indicies[1] - replace.Indicies[0])
	}
	L.checkAlloc(size)
	var b strings.Builder
	b.Grow(size)
	prev := 0
	for _, replace := range info {
		b.WriteString(str[prev:replace.Indicies[0]])
		b.WriteString(replace.String)
		prev = replace.Indicies[1]
	}
	b.WriteString(str[prev:])
	return b.String()
}

// gsubPending checks the replacement strings gathered so far (pending
// bytes) against the memory budget, and counts a step of the builtin
// (wsrelay patch).
func gsubPending(L *LState, pending int) {
	L.interruptStep()
	L.checkPending(pending)
}

func strGsubStr(L *LState, str string, repl string, matches []*pm.MatchData) string {
	infoList := make([]replaceInfo, 0, len(matches))
	pending := 0
	for _, match := range matches {
		start, end := match.Capture(0), match.Capture(1)
		sc := newFlagScanner('%', "", "", repl)
		for c, eos := sc.Next(); !eos; c, eos = sc.Next() {
			if !sc.ChangeFlag {
				if sc.HasFlag {
					if c >= '0' && c <= '9' {
						sc.AppendString(capturedString(L, match, str, 2*(int(c)-48)))
					} else {
						sc.AppendChar('%')
						sc.AppendChar(c)
					}
					sc.HasFlag = false
				} else {
					sc.AppendChar(c)
				}
			}
		}
		infoList = append(infoList, replaceInfo{[]int{start, end}, sc.String()})
		pending += len(infoList[len(infoList)-1].String)
		gsubPending(L, pending) // wsrelay patch
	}

	return strGsubDoReplace(L, str, infoList)
}

func strGsubTable(L *LState, str string, repl *LTable, matches []*pm.MatchData) string {
	infoList := make([]replaceInfo, 0, len(matches))
	pending := 0
	for _, match := range matches {
		idx := 0
		if match.CaptureLength() > 2 { // has captures
			idx = 2
		}
		var value LValue
		if match.IsPosCapture(idx) {
			value = L.GetTable(repl, LNumber(match.Capture(idx)))
		} else {
			value = L.GetField(repl, str[match.Capture(idx):match.Capture(idx+1)])
		}
		if !LVIsFalse(value) {
			infoList = append(infoList, replaceInfo{[]int{match.Capture(0), match.Capture(1)}, LVAsString(value)})
			pending += len(infoList[len(infoList)-1].String)
		}
		gsubPending(L, pending) // wsrelay patch
	}
	return strGsubDoReplace(L, str, infoList)
}

func strGsubFunc(L *LState, str string, repl *LFunction, matches []*pm.MatchData) string {
	infoList := make([]replaceInfo, 0, len(matches))
	pending := 0
	for _, match := range matches {
		start, end := match.Capture(0), match.Capture(1)
		L.Push(repl)
		nargs := 0
		if match.CaptureLength() > 2 { // has captures
			for i := 2; i < match.CaptureLength(); i += 2 {
				if match.IsPosCapture(i) {
					L.Push(LNumber(match.Capture(i)))
				} else {
					L.Push(LString(capturedString(L, match, str, i)))
				}
				nargs++
			}
		} else {
			L.Push(LString(capturedString(L, match, str, 0)))
			nargs++
		}
		L.Call(nargs, 1)
		ret := L.reg.Pop()
		if !LVIsFalse(ret) {
			infoList = append(infoList, replaceInfo{[]int{start, end}, LVAsString(ret)})
			pending += len(infoList[len(infoList)-1].String)
		}
		gsubPending(L, pending) // wsrelay patch
	}
	return strGsubDoReplace(L, str, infoList)
}

type strMatchData struct {
	str     string
	pos     int
	matches []*pm.MatchData
}

func strGmatchIter(L *LState) int {
	md := L.CheckUserData(1).Value.(*strMatchData)
	str := md.str
	matches := md.matches
	idx := md.pos
	md.pos += 1
	if idx == len(matches) {
		return 0
	}
	L.Push(L.Get(1))
	match := matches[idx]
	if match.CaptureLength() == 2 {
		L.Push(LString(L.substr(str, match.Capture(0), match.Capture(1)))) // wsrelay patch
		return 1
	}

	for i := 2; i < match.CaptureLength(); i += 2 {
		if match.IsPosCapture(i) {
			L.Push(LNumber(match.Capture(i)))
		} else {
			L.Push(LString(L.substr(str, match.Capture(i), match.Capture(i+1)))) // wsrelay patch
		}
	}
	return match.CaptureLength()/2 - 1
}

func strGmatch(L *LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	mds, err := pm.FindWithCheck(pattern, []byte(str), 0, -1, L.patternCheck()) // wsrelay patch
	if err != nil {
		L.RaiseError(err.Error())
	}
	L.Push(L.Get(UpvalueIndex(1)))
	ud := L.NewUserData()
	ud.Value = &strMatchData{str, 0, mds}
	L.Push(ud)
	return 2
}

func strLen(L *LState) int {
	str := L.CheckString(1)
	L.Push(LNumber(len(str)))
	return 1
}

func strLower(L *LState) int {
	str := L.CheckString(1)
	L.checkAllocN(len(str), 3) // wsrelay patch: invalid UTF-8 becomes U+FFFD, 3 bytes a byte
	L.Push(LString(strings.ToLower(str)))
	return 1
}

func strMatch(L *LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	offset := L.OptInt(3, 1)
	l := len(str)
	if offset < 0 {
		offset = l + offset + 1
	}
	offset--
	if offset < 0 {
		offset = 0
	}

	mds, err := pm.FindWithCheck(pattern, unsafeFastStringToReadOnlyBytes(str), offset, 1, L.patternCheck()) // wsrelay patch
	if err != nil {
		L.RaiseError(err.Error())
	}
	if len(mds) == 0 {
		L.Push(LNil)
		return 0
	}
	md := mds[0]
	nsubs := md.CaptureLength() / 2
	switch nsubs {
	case 1:
		L.Push(LString(L.substr(str, md.Capture(0), md.Capture(1)))) // wsrelay patch
		return 1
	default:
		for i := 2; i < md.CaptureLength(); i += 2 {
			if md.IsPosCapture(i) {
				L.Push(LNumber(md.Capture(i)))
			} else {
				L.Push(LString(L.substr(str, md.Capture(i), md.Capture(i+1)))) // wsrelay patch
			}
		}
		return nsubs - 1
	}
}

func strRep(L *LState) int {
	str := L.CheckString(1)
	n := L.CheckInt(2)
	if n < 0 {
		L.Push(emptyLString)
	} else {
		L.checkAllocN(len(str), n) // wsrelay patch
		L.Push(LString(strings.Repeat(str, n)))
	}
	return 1
}

func strReverse(L *LState) int {
	str := L.CheckString(1)
	L.checkAlloc(2 * len(str)) // wsrelay patch
	bts := []byte(str)
	out := make([]byte, len(bts))
	for i, j := 0, len(bts)-1; j >= 0; i, j = i+1, j-1 {
		out[i] = bts[j]
	}
	L.Push(LString(string(out)))
	return 1
}

func strSub(L *LState) int {
	str := L.CheckString(1)
	start := luaIndex2StringIndex(str, L.CheckInt(2), true)
	end := luaIndex2StringIndex(str, L.OptInt(3, -1), false)
	l := len(str)
	if start >= l || end < start {
		L.Push(emptyLString)
	} else {
		L.Push(LString(L.substr(str, start, end))) // wsrelay patch
	}
	return 1
}

func strUpper(L *LState) int {
	str := L.CheckString(1)
	L.checkAllocN(len(str), 3) // wsrelay patch: invalid UTF-8 becomes U+FFFD, 3 bytes a byte
	L.Push(LString(strings.ToUpper(str)))
	return 1
}

func luaIndex2StringIndex(str string, i int, start bool) int {
	if start && i != 0 {
		i -= 1
	}
	l := len(str)
	if i < 0 {
		i = l + i + 1
	}
	i = intMax(0, i)
	if !start && i > l {
		i = l
	}
	return i
}

//
