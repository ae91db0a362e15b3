package luart_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/value"
)

// What the sandbox's bounds cost. These benchmarks use only the API that
// existed before the bounds, so that the same file measures the code
// before and after (see docs/decisions/0010-patched-gopher-lua.md).

// BenchmarkSandboxLoop: a Lua process adds 1,000 numbers in a for loop;
// an op is the 1,000 additions. The process's state carries a context,
// as every process does.
func BenchmarkSandboxLoop(b *testing.B) {
	e := newEnv(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	ok(b, e.run(withN(b.N, `return {main = function()
		local s = 0
		for k = 1, n do for i = 1, 1000 do s = s + i end end
		return s
	end}`)))
}

// BenchmarkSandboxAlloc: a Lua process builds 100 small tables, 100
// strings with .., and one table.concat of them; an op is one such round,
// all of it garbage afterwards.
func BenchmarkSandboxAlloc(b *testing.B) {
	e := newEnv(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	ok(b, e.run(withN(b.N, `return {main = function()
		local total = 0
		for k = 1, n do
			local t, parts = {}, {}
			for i = 1, 100 do
				t[i] = {id = i, name = "item"}
				parts[i] = "k" .. i .. "=" .. t[i].name
			end
			total = total + #table.concat(parts, ",")
		end
		return total
	end}`)))
}

// BenchmarkSandboxPattern: string.find and gsub on a 1 KB string; an op
// is one find and one gsub.
func BenchmarkSandboxPattern(b *testing.B) {
	e := newEnv(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	ok(b, e.run(withN(b.N, `return {main = function()
		local s = string.rep("hello world ", 85)
		local c = 0
		for k = 1, n do
			local a = s:find("wor(l)d%s*$")
			local r, m = s:gsub("o", "0")
			c = c + m
		end
		return c
	end}`)))
}

// withN prefixes code with the benchmark's n as a local.
func withN(n int, code string) string { return "local n = " + strconv.Itoa(n) + "\n" + code }

func itoa(n int) string { return strconv.Itoa(n) }

// BenchmarkRoundTripWhileSpinning: a Go process sends to a Lua echo
// process and waits for the answer (what the relay does for a client)
// while 0, 2 or 3 other Lua processes run busy loops (2 also with the
// loops inside pcall, and inside a coroutine); it reports the median and
// 99th percentile round trip. The fairness goal: the p99 with 2 spinners
// within 2x of the p99 with none, measured in the same run.
func BenchmarkRoundTripWhileSpinning(b *testing.B) {
	for _, spinners := range []int{0, 2, 3} {
		b.Run("spinners="+itoa(spinners), func(b *testing.B) { benchSpinning(b, spinners, nil) })
	}
	b.Run("spinners=2-in-pcall", func(b *testing.B) { benchSpinningCode(b, 2, nil, "pcall(spin)") })
	b.Run("spinners=2-in-coroutine", func(b *testing.B) { benchSpinningCode(b, 2, nil, "coroutine.wrap(spin)()") })
}

func benchSpinning(b *testing.B, spinners int, opts *luart.Options) {
	benchSpinningCode(b, spinners, opts, "spin()")
}

func benchSpinningCode(b *testing.B, spinners int, opts *luart.Options, call string) {
	e := newEnv(b, opts)
	echo := e.process("bench:echo"+randSuffix(), echoLua)
	spin := e.process("bench:spin"+randSuffix(), `
local function spin()
    local s = 0
    while true do s = s + 1 end
end
return { main = function() `+call+` end }`)
	echoPID := e.spawn(echo).String()
	for range spinners {
		e.spawn(spin)
	}
	pr := e.probe()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		pr.Send(echoPID, "ping", value.Int(int64(i)))
		pr.Next("pong")
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "p90-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}

// BenchmarkRoundTripWhileSpinningYield is the 3-spinner case with a
// yield every 1,024 instructions (Options.YieldEvery).
func BenchmarkRoundTripWhileSpinningYield(b *testing.B) {
	benchSpinning(b, 3, &luart.Options{YieldEvery: 1024})
}
