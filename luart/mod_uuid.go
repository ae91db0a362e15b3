package luart

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The uuid module, as the original runtime has it: uuid.v4() (random),
// uuid.v7() (time-ordered), uuid.v3(ns, name) and uuid.v5(ns, name)
// (derived from a namespace UUID and a name with MD5 or SHA-1) return a
// UUID in its standard text form, or nil and an error;
// uuid.validate(s) tells whether s is one; uuid.version(s) gives its
// version, or nil and an error.

var uuidFuncs = map[string]lua.LGFunction{
	"v4":       func(L *lua.LState) int { return pushUUID(L, uuidV4()) },
	"v7":       func(L *lua.LState) int { return pushUUID(L, uuidV7(time.Now())) },
	"v3":       func(L *lua.LState) int { return uuidHashed(L, "uuid.v3", 3) },
	"v5":       func(L *lua.LState) int { return uuidHashed(L, "uuid.v5", 5) },
	"validate": uuidValidate,
	"version":  uuidVersion,
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

func uuidVersion(L *lua.LState) int {
	u, err := parseUUID(checkString(L, 1, "uuid.version", "uuid"))
	if err != nil {
		return pushNilErr(L, "uuid.version: "+err.Error())
	}
	L.Push(lua.LNumber(u[6] >> 4))
	return 1
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

// parseUUID reads the standard form, 8-4-4-4-12 hex digits.
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%q is not a UUID (8-4-4-4-12 hex digits)", cutArg(s))
	}
	hexed := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(hexed)); err != nil {
		return u, fmt.Errorf("%q is not a UUID (8-4-4-4-12 hex digits)", cutArg(s))
	}
	return u, nil
}
