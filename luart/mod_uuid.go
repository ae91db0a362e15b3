package luart

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The uuid module, as the original runtime has it: uuid.v1() (time and
// node), uuid.v4() (random), uuid.v7() (time-ordered), uuid.v3(ns, name)
// and uuid.v5(ns, name) (derived from a namespace UUID and a name with
// MD5 or SHA-1) return a UUID in its standard text form, or nil and an
// error; uuid.validate(s) tells whether s is one; uuid.version(s),
// uuid.variant(s), uuid.parse(s) and uuid.format(s, form) read one, or
// return nil and an error.
//
// A UUID read by these functions may be written in the standard form
// (8-4-4-4-12 hex digits), the simple one (32 hex digits) or as a URN
// ("urn:uuid:" and the standard form), in either case of letters.

var uuidFuncs = map[string]lua.LGFunction{
	"v1":       func(L *lua.LState) int { return pushUUID(L, uuidV1(time.Now())) },
	"v4":       func(L *lua.LState) int { return pushUUID(L, uuidV4()) },
	"v7":       func(L *lua.LState) int { return pushUUID(L, uuidV7(time.Now())) },
	"v3":       func(L *lua.LState) int { return uuidHashed(L, "uuid.v3", 3) },
	"v5":       func(L *lua.LState) int { return uuidHashed(L, "uuid.v5", 5) },
	"validate": uuidValidate,
	"version":  uuidVersion,
	"variant":  uuidVariant,
	"parse":    uuidParse,
	"format":   uuidFormat,
}

// gregorianOffset is the number of 100 ns intervals from the start of the
// Gregorian calendar (1582-10-15), where v1 timestamps count from, to the
// Unix epoch.
const gregorianOffset = 122192928000000000

// uuidV1 is a time-based UUID. Its node and clock sequence are random for
// each UUID (RFC 4122, 4.5: a random node has the multicast bit set), so
// that no state is kept between calls, nor a hardware address shown: two
// UUIDs made in the same 100 ns differ in their 62 random bits.
func uuidV1(now time.Time) [16]byte {
	var u [16]byte
	rand.Read(u[8:])
	t := uint64(now.UnixNano()/100) + gregorianOffset
	binary.BigEndian.PutUint32(u[0:4], uint32(t))     // time_low
	binary.BigEndian.PutUint16(u[4:6], uint16(t>>32)) // time_mid
	binary.BigEndian.PutUint16(u[6:8], uint16(t>>48)) // time_hi (version added below)
	u[10] |= 0x01                                     // multicast bit: not a hardware address
	return withVersion(u, 1)
}

func pushUUID(L *lua.LState, u [16]byte) int {
	L.Push(lua.LString(formatUUID(u)))
	return 1
}

func uuidV4() [16]byte {
	var u [16]byte
	rand.Read(u[:]) // never fails (crypto/rand)
	return withVersion(u, 4)
}

func uuidV7(now time.Time) [16]byte {
	var u [16]byte
	rand.Read(u[6:])
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(now.UnixMilli()))
	copy(u[:6], ms[2:])
	return withVersion(u, 7)
}

func withVersion(u [16]byte, v byte) [16]byte {
	u[6] = u[6]&0x0f | v<<4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}

func uuidHashed(L *lua.LState, fn string, version byte) int {
	ns, err := parseUUID(checkString(L, 1, fn, "namespace"))
	name := checkString(L, 2, fn, "name")
	if err != nil {
		return pushNilErr(L, fn+": namespace: "+err.Error())
	}
	var sum []byte
	if version == 3 {
		h := md5.New()
		h.Write(ns[:])
		h.Write([]byte(name))
		sum = h.Sum(nil)
	} else {
		h := sha1.New()
		h.Write(ns[:])
		h.Write([]byte(name))
		sum = h.Sum(nil)
	}
	var u [16]byte
	copy(u[:], sum)
	return pushUUID(L, withVersion(u, version))
}

func uuidValidate(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	if !ok {
		L.Push(lua.LFalse)
		return 1
	}
	_, err := parseUUID(string(s))
	L.Push(lua.LBool(err == nil))
	return 1
}

// uuidVariant names the variant the way the original runtime does.
func variantName(u [16]byte) string {
	switch {
	case u[8]&0x80 == 0:
		return "NCS"
	case u[8]&0xc0 == 0x80:
		return "RFC4122"
	case u[8]&0xe0 == 0xc0:
		return "Microsoft"
	default:
		return "Future"
	}
}

func uuidVariant(L *lua.LState) int {
	u, err := uuidArg(L, 1)
	if err != nil {
		return pushNilErr(L, "uuid.variant: "+err.Error())
	}
	L.Push(lua.LString(variantName(u)))
	return 1
}

// uuidParse is uuid.parse(s): {version, variant}, with timestamp (Unix
// seconds) for v1 and v7, and node (12 hex digits) for v1.
func uuidParse(L *lua.LState) int {
	u, err := uuidArg(L, 1)
	if err != nil {
		return pushNilErr(L, "uuid.parse: "+err.Error())
	}
	t := L.CreateTable(0, 4)
	version := int(u[6] >> 4)
	t.RawSetString("version", lua.LNumber(version))
	t.RawSetString("variant", lua.LString(variantName(u)))
	switch version {
	case 1:
		ticks := uint64(binary.BigEndian.Uint32(u[0:4])) | uint64(binary.BigEndian.Uint16(u[4:6]))<<32 | uint64(binary.BigEndian.Uint16(u[6:8])&0x0fff)<<48
		t.RawSetString("timestamp", lua.LNumber((int64(ticks)-gregorianOffset)/1e7))
		t.RawSetString("node", lua.LString(hex.EncodeToString(u[10:])))
	case 7:
		var ms [8]byte
		copy(ms[2:], u[:6])
		t.RawSetString("timestamp", lua.LNumber(binary.BigEndian.Uint64(ms[:])/1000))
	}
	L.Push(t)
	return 1
}

// uuidFormat is uuid.format(s [, form]): form "standard" (the default),
// "simple" (32 hex digits) or "urn".
func uuidFormat(L *lua.LState) int {
	u, err := uuidArg(L, 1)
	form := "standard"
	if L.Get(2) != lua.LNil {
		form = checkString(L, 2, "uuid.format", "format")
	}
	if err != nil {
		return pushNilErr(L, "uuid.format: "+err.Error())
	}
	switch form {
	case "standard":
		L.Push(lua.LString(formatUUID(u)))
	case "simple":
		L.Push(lua.LString(hex.EncodeToString(u[:])))
	case "urn":
		L.Push(lua.LString("urn:uuid:" + formatUUID(u)))
	default:
		return pushNilErr(L, fmt.Sprintf("uuid.format: %q is not a format: use standard, simple or urn", cutArg(form)))
	}
	return 1
}

func uuidVersion(L *lua.LState) int {
	u, err := uuidArg(L, 1)
	if err != nil {
		return pushNilErr(L, "uuid.version: "+err.Error())
	}
	L.Push(lua.LNumber(u[6] >> 4))
	return 1
}

// uuidArg reads argument n as a UUID; a value that is not a string is an
// error returned like a malformed one (nil, err), as the original runtime
// does.
func uuidArg(L *lua.LState, n int) ([16]byte, error) {
	s, ok := L.Get(n).(lua.LString)
	if !ok {
		return [16]byte{}, fmt.Errorf("the UUID must be a string, got %s", L.Get(n).Type())
	}
	return parseUUID(string(s))
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// parseUUID reads the standard form, 8-4-4-4-12 hex digits, the simple
// one (32 hex digits) or a URN of the standard form.
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	in := s
	if len(s) == 45 && strings.EqualFold(s[:9], "urn:uuid:") {
		s = s[9:]
	}
	var hexed string
	switch {
	case len(s) == 32:
		hexed = s
	case len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-':
		hexed = s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	default:
		return u, fmt.Errorf("%q is not a UUID (8-4-4-4-12 hex digits)", cutArg(in))
	}
	if _, err := hex.Decode(u[:], []byte(hexed)); err != nil {
		return u, fmt.Errorf("%q is not a UUID (8-4-4-4-12 hex digits)", cutArg(in))
	}
	return u, nil
}
