package luart_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/value"
)

// A child that sends its parent a message and then ends: a parent that
// waits on its events alone gets the EXIT at once (the message stays in
// its inbox), while a select over the inbox and the events sees the
// message before the EXIT, as sent.
func TestEventsAloneAreNotHeldBehindMessages(t *testing.T) {
	e := newEnv(t, nil)
	e.process("test:sendexit", `return {main = function(parent) process.send(parent, "result", 7) end}`)
	r := e.run(`local time = require("time")
	return {main = function()
		local child = process.spawn_monitored("test:sendexit", "app:processes", process.pid())
		local ev = process.events():receive()
		local msg = process.inbox():receive()

		process.spawn_monitored("test:sendexit", "app:processes", process.pid())
		local cases = {process.events():case_receive(), process.inbox():case_receive()}
		local first = channel.select(cases)
		local second = channel.select(cases)

		process.spawn_monitored("test:sendexit", "app:processes", process.pid())
		local t = channel.select{process.events():case_receive(), time.after("10s"):case_receive()}
		return {ev.kind, ev.from == child, msg:topic(), type(first.value), second.value.kind, t.value.kind}
	end}`, "time")
	want := value.MustOf([]any{"EXIT", true, "result", "userdata", "EXIT", "EXIT"})
	if got := ok(t, r); !value.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
