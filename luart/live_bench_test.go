package luart_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

// BenchmarkRelayRTTWhileSpinning: a WebSocket client of the bench example
// app (a Lua echo process per connection, through the relay) sends a
// message and waits for its echo while 0, 1 or 3 Lua processes on the same
// node run busy loops; it reports the mean, median and 99th percentile
// round trip. Client and server share the machine's cores.
func BenchmarkRelayRTTWhileSpinning(b *testing.B) {
	for _, spinners := range []int{0, 1, 2, 3} {
		b.Run("spinners="+strconv.Itoa(spinners), func(b *testing.B) {
			app, _ := apptest.Start(b, "../examples/bench")
			spin, err := luart.Compile(luart.Source{ID: "bench:spin", File: "spin.lua", Method: "main", Kind: luart.KindProcess,
				Code: []byte(`return { main = function() local s = 0 while true do s = s + 1 end end }`)})
			if err != nil {
				b.Fatal(err)
			}
			if err := app.Lua().Add(spin); err != nil {
				b.Fatal(err)
			}
			var spinning []pid.PID
			for range spinners {
				id, err := app.Lua().Spawn("bench:processes", spin, nil, process.SpawnOptions{})
				if err != nil {
					b.Fatal(err)
				}
				spinning = append(spinning, id)
			}
			defer func() {
				for _, id := range spinning {
					_ = app.Node().Terminate(id)
				}
			}()
			c, _, err := wsclient.Dial("ws://"+apptest.Addr(b, app, "bench:gateway")+"/ws/lua", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			lat := make([]time.Duration, 0, b.N)
			var total time.Duration
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if err := c.WriteText("ping " + strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
				if _, err := c.ReadText(); err != nil {
					b.Fatal(err)
				}
				d := time.Since(start)
				lat = append(lat, d)
				total += d
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(total.Microseconds())/float64(len(lat)), "mean-µs")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
