package luart_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/value"
)

// fakeEnv is a map of variables; "ro" cannot be written.
type fakeEnv map[string]string

func (f fakeEnv) Get(name string) (string, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return "", fmt.Errorf("%w %q", luart.ErrNoVariable, name)
}

func (f fakeEnv) Set(name, v string) error {
	if name == "ro" {
		return luart.ErrReadOnly
	}
	f[name] = v
	return nil
}

func (f fakeEnv) All() map[string]string { return f }

type fakeRegistry []luart.RegistryEntry

func (r fakeRegistry) Entries() []luart.RegistryEntry { return r }
func (r fakeRegistry) Entry(id string) (luart.RegistryEntry, bool) {
	for _, e := range r {
		if e.ID == id {
			return e, true
		}
	}
	return luart.RegistryEntry{}, false
}

// runCasesWith runs each case's body as a process's main function on one
// node made with opts (nil: the defaults), with modules listed, and checks
// what it returns or the error it fails with. A probe is registered as
// "probe" for the bodies that send.
func runCasesWith(t *testing.T, opts *luart.Options, cases []luaCase, modules ...string) {
	t.Helper()
	e := newEnv(t, opts)
	pr := e.probe()
	pr.Register("probe")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := "local function main(probe_pid)\n" + tc.body + "\nend\nreturn { main = main }\n"
			r := e.runWith(pr, code, modules...)
			if tc.errText != "" {
				if r.Err == nil || !strings.Contains(r.Err.Error(), tc.errText) {
					t.Fatalf("error = %v, want one containing %q", r.Err, tc.errText)
				}
				return
			}
			got := ok(t, r)
			if want := value.MustOf(tc.want); !value.Equal(got, want) {
				t.Fatalf("returned %v, want %v", got, want)
			}
		})
	}
}

func TestEnvModule(t *testing.T) {
	opts := &luart.Options{Env: fakeEnv{"PORT": "8080", "ro": "x"}}
	runCasesWith(t, opts, []luaCase{
		{name: "get", body: `local env = require("env"); return env.get("PORT")`, want: "8080"},
		{name: "get unknown", body: `local env = require("env"); local v, err = env.get("NOPE"); return {v == nil, err}`,
			want: []any{true, `env.get: no such variable "NOPE"`}},
		{name: "get empty", body: `local v, err = require("env").get(""); return err`, want: "env.get: the name is empty"},
		{name: "set and get", body: `local env = require("env"); local ok = env.set("PORT", "9090"); return {ok, env.get("PORT")}`, want: []any{true, "9090"}},
		{name: "set read-only", body: `local ok, err = require("env").set("ro", "y"); return {ok == nil, err}`, want: []any{true, "env.set: variable is read-only"}},
		{name: "get_all", body: `local all = require("env").get_all(); return all.ro`, want: "x"},
		{name: "get needs a string", body: `require("env").get({})`, errText: "env.get: argument #1 (name) must be a string"},
	}, "env")
	// With no variables declared at all, get says how to declare one.
	runCases(t, []luaCase{
		{name: "no env", body: `local v, err = require("env").get("PORT"); return err`,
			want: "env.get: no variable PORT is declared (declare it as an env.variable entry)"},
	}, "env")
}

func TestRegistryModule(t *testing.T) {
	reg := fakeRegistry{
		{ID: "app.plugins:echo", Kind: "registry.entry", Meta: value.MustOf(map[string]any{"type": "relay.plugin", "order": 2}), Data: value.MustOf(map[string]any{"prefix": "echo."})},
		{ID: "app.plugins:chat", Kind: "registry.entry", Meta: value.MustOf(map[string]any{"type": "relay.plugin", "order": 1})},
		{ID: "app:handler", Kind: "function.lua", Meta: value.MustOf(map[string]any{"type": "handler"})},
	}
	runCasesWith(t, &luart.Options{Registry: reg}, []luaCase{
		{name: "get", body: `local e = require("registry").get("app.plugins:echo")
			return {e.id, e.kind, e.meta.type, e.data.prefix}`, want: []any{"app.plugins:echo", "registry.entry", "relay.plugin", "echo."}},
		{name: "get missing", body: `local e, err = require("registry").get("app:nope"); return {e == nil, err}`, want: []any{true, "registry.get: no entry app:nope"}},
		{name: "find by kind", body: `local r = require("registry").find({[".kind"] = "registry.entry"}); return #r`, want: 2},
		{name: "find by meta.type", body: `local r = require("registry").find({["meta.type"] = "relay.plugin", [".ns"] = "app.plugins"}); return #r`, want: 2},
		{name: "find by meta table and number", body: `local r = require("registry").find({meta = {type = "relay.plugin", order = 1}}); return r[1].id`, want: "app.plugins:chat"},
		{name: "find by bare meta key", body: `local r = require("registry").find({type = "handler"}); return {#r, r[1].data ~= nil}`, want: []any{1, true}},
		{name: "find none", body: `return #require("registry").find({[".kind"] = "nope"})`, want: 0},
		{name: "find bad filter", body: `require("registry").find({[1] = "x"})`, errText: "registry.find: argument #1 (filter) a filter's keys are strings"},
		{name: "parse_id", body: `local id = require("registry").parse_id("app.lib:assert"); return {id.ns, id.name}`, want: []any{"app.lib", "assert"}},
		{name: "entries are copies", body: `local r = require("registry"); r.get("app:handler").meta.type = "x"; return r.get("app:handler").meta.type`, want: "handler"},
		{name: "snapshot", body: `local snap, err = require("registry").snapshot()
			local all = snap:entries(); local e = snap:get("app.plugins:echo"); local _, missing = snap:get("app:nope")
			return {err == nil, #all, e.data.prefix, missing, #snap:find({[".kind"] = "registry.entry"}), #snap:namespace("app.plugins"), #snap:namespace("app"), snap:version():id()}`,
			want: []any{true, 3, "echo.", "registry.get: no entry app:nope", 2, 2, 1, 1}},
		{name: "versions", body: `local r = require("registry"); local v = r.current_version(); local vs = r.versions()
			local h = r.history(); local s1 = r.snapshot_at(1); local s2 = r.snapshot_at(v); local none, err = r.snapshot_at(2)
			return {v:id(), v:string(), v:previous() == nil, v:next() == nil, #vs, vs[1]:id(), #h:versions(), h:get_version(1):id(), #h:snapshot_at(v):entries(), #s1:entries(), #s2:entries(), none == nil, err}`,
			want: []any{1, "1", true, true, 1, 1, 1, 1, 3, 3, 3, true, "registry.snapshot_at: no version 2: a wsrelay app's registry has one version, 1, the entries it loaded"}},
		{name: "changes are listed, never applied", body: `local r = require("registry"); local c = r.snapshot():changes()
			c:create({id = "app:new", kind = "registry.entry", meta = {type = "x"}, data = {a = 1}}):update({id = "app:handler", kind = "function.lua"})
			c:delete("app.plugins:chat"); c:delete({ns = "app.plugins", name = "echo"})
			local ops = c:ops(); local v, err = c:apply(); local ok, err2 = r.apply_version(r.current_version())
			return {#ops, ops[1].kind, ops[1].entry.data.a, ops[2].kind, ops[3].kind, ops[3].entry.id, ops[4].entry.id, v == nil, err, ok, #r.find({[".kind"] = "registry.entry"})}`,
			want: []any{4, "entry.create", 1, "entry.update", "entry.delete", "app.plugins:chat", "app.plugins:echo", true,
				"changes:apply: the registry of a wsrelay app cannot be changed at run time: change the app's YAML and start it again", true, 2}},
		{name: "build_delta", body: `local ops = require("registry").build_delta(
				{{id = "t:a", kind = "k", meta = {}, data = {}}, {id = "t:b", kind = "k", meta = {}, data = {x = 1}}, {id = "t:c", kind = "k"}},
				{{id = "t:b", kind = "k", meta = {}, data = {x = 2}}, {id = "t:c", kind = "k"}, {id = "t:d", kind = "k"}})
			local out = {}
			for _, op in ipairs(ops) do table.insert(out, op.kind .. " " .. op.entry.id) end
			return out`,
			want: []any{"entry.update t:b", "entry.create t:d", "entry.delete t:a"}},
		{name: "build_delta needs ids", body: `require("registry").build_delta({{kind = "k"}}, {})`,
			errText: "registry.build_delta: argument #1 (from) entry 1 has no id"},
		{name: "a method needs its object", body: `local s = require("registry").snapshot(); s.entries()`,
			errText: "snapshot:entries: call it with ':' on its object"},
	}, "registry")
}

func TestUUIDModule(t *testing.T) {
	runCases(t, []luaCase{
		{name: "v4", body: `local uuid = require("uuid"); local a, b = uuid.v4(), uuid.v4()
			return {#a, a ~= b, uuid.version(a), uuid.validate(a), a:sub(15, 15), ("89ab"):find(a:sub(20, 20), 1, true) ~= nil}`,
			want: []any{36, true, 4, true, "4", true}},
		{name: "v7 sorts by time", body: `local uuid = require("uuid"); local a = uuid.v7(); require("time").sleep("2ms"); local b = uuid.v7()
			return {uuid.version(a), a < b}`, want: []any{7, true}},
		{name: "v5 is RFC 4122's", body: `return require("uuid").v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com")`,
			want: "2ed6657d-e927-568b-95e1-2665a8aea6a2"},
		{name: "v3 is RFC 4122's", body: `return require("uuid").v3("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com")`,
			want: "5df41881-3aed-3515-88a7-2f4a814cf09e"},
		{name: "bad namespace", body: `local id, err = require("uuid").v5("nope", "x"); return {id == nil, err}`,
			want: []any{true, `uuid.v5: namespace: "nope" is not a UUID (8-4-4-4-12 hex digits)`}},
		{name: "validate", body: `local u = require("uuid"); return {u.validate("x"), u.validate(3), u.validate("6ba7b810-9dad-11d1-80b4-00c04fd430cZ")}`,
			want: []any{false, false, false}},
		{name: "v1 carries its time and a random node", body: `local uuid = require("uuid"); local time = require("time")
			local before = time.now():unix(); local a, b = uuid.v1(), uuid.v1(); local p = uuid.parse(a)
			return {#a, a ~= b, p.version, p.variant, p.timestamp >= before and p.timestamp <= time.now():unix(), #p.node, ("13579bdf"):find(p.node:sub(2, 2), 1, true) ~= nil}`,
			want: []any{36, true, 1, "RFC4122", true, 12, true}},
		{name: "parse a known v1", body: `local p = require("uuid").parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"); return {p.version, p.timestamp, p.node}`,
			want: []any{1, 886630433, "00c04fd430c8"}},
		{name: "parse v7 and v4", body: `local u = require("uuid"); local p7, p4 = u.parse("017f22e2-79b0-7cc3-98c4-dc0c0c07398f"), u.parse(u.v4())
			return {p7.version, p7.timestamp, p4.version, p4.timestamp == nil, p4.node == nil}`,
			want: []any{7, 1645557742, 4, true, true}},
		{name: "variant", body: `local u = require("uuid")
			return {u.variant(u.v4()), u.variant("00000000-0000-0000-0000-000000000000"), u.variant("00000000-0000-0000-c000-000000000000"), u.variant("00000000-0000-0000-e000-000000000000")}`,
			want: []any{"RFC4122", "NCS", "Microsoft", "Future"}},
		{name: "format", body: `local u = require("uuid"); local id = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"
			return {u.format(id), u.format(id, "simple"), u.format(id, "urn"), u.format("6ba7b8109dad11d180b400c04fd430c8"), u.format("urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "standard")}`,
			want: []any{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b8109dad11d180b400c04fd430c8", "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}},
		{name: "format errors", body: `local u = require("uuid"); local a, e1 = u.format(u.v4(), "braces"); local b, e2 = u.parse("nope"); local c, e3 = u.variant("x")
			return {a == nil, e1, b == nil, e2, c == nil, e3}`,
			want: []any{true, `uuid.format: "braces" is not a format: use standard, simple or urn`, true, `uuid.parse: "nope" is not a UUID (8-4-4-4-12 hex digits)`, true, `uuid.variant: "x" is not a UUID (8-4-4-4-12 hex digits)`}},
		{name: "a UUID that is no string is an error value", body: `local u = require("uuid"); local a, e1 = u.version(12); local b, e2 = u.parse({})
			return {a == nil, e1, b == nil, e2}`,
			want: []any{true, "uuid.version: the UUID must be a string, got number", true, "uuid.parse: the UUID must be a string, got table"}},
	}, "uuid", "time")
}
