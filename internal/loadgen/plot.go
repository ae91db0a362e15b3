package loadgen

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// PlotSVG draws the latency distributions of results as histograms on a
// logarithmic time axis, one colour per result.
func PlotSVG(w io.Writer, title string, results []Result) error {
	const width, height, left, bottom, buckets = 760, 360, 60, 40, 40
	lo, hi := time.Duration(math.MaxInt64), time.Duration(1)
	for _, r := range results {
		if len(r.Latencies) == 0 {
			continue
		}
		lo, hi = min(lo, r.Latencies[0]), max(hi, r.Latencies[len(r.Latencies)-1])
	}
	if lo == time.Duration(math.MaxInt64) {
		return fmt.Errorf("plot: no latencies to draw (modes rtt, fanout and connect have them)")
	}
	lo = max(lo, time.Microsecond)
	hi = max(hi, 2*lo)
	lmin, lmax := math.Log10(float64(lo)), math.Log10(float64(hi))
	bucketOf := func(d time.Duration) int {
		f := (math.Log10(float64(max(d, lo))) - lmin) / (lmax - lmin)
		return min(buckets-1, int(f*buckets))
	}
	colours := []string{"#2f5bd3", "#d3572f", "#2e9d4f", "#8a3fd1"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="20" font-size="14">%s</text>`+"\n", left, escape(title))
	plotW, plotH := width-left-20, height-bottom-40
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, 30+plotH, left+plotW, 30+plotH)
	for i := 0; i <= 4; i++ {
		l := lmin + (lmax-lmin)*float64(i)/4
		x := left + plotW*i/4
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%v</text>`+"\n", x, 30+plotH+16, time.Duration(math.Pow(10, l)).Round(time.Microsecond))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">latency (log scale)</text>`+"\n", left+plotW/2, height-6)
	for i, r := range results {
		if len(r.Latencies) == 0 {
			continue
		}
		var counts [buckets]int
		peak := 1
		for _, d := range r.Latencies {
			k := bucketOf(d)
			counts[k]++
			peak = max(peak, counts[k])
		}
		c := colours[i%len(colours)]
		bw := plotW / buckets
		for k, n := range counts {
			h := plotH * n / peak
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" fill-opacity="0.5"/>`+"\n", left+k*bw, 30+plotH-h, bw-1, h, c)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s %s: p50 %v, p99 %v</text>`+"\n", left+plotW-330, 44+16*i, c, r.Mode, escape(r.URL), r.P50, r.P99)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
