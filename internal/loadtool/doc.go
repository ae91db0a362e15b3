// Package loadtool is the load tool of the wsrelay command: `wsrelay
// bench` (Bench) measures a running app through internal/loadgen, and
// `wsrelay baseline` (Baseline) serves the bare servers it compares
// against. The command only dispatches to it; docs/bench.md says how to
// use both.
package loadtool
