package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/internal/netcut"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/process"
)

// TestClaims: a claim (a name of the runtime's own, starting with '{') is
// first-write-wins like a name, but a program cannot register one, and a
// claim cannot be spelt like a program's name. A node waiting on a change
// of the claim is woken when its holder releases it, and can then take it;
// releasing by a process that does not hold it does nothing. A claim is
// freed when its holder ends.
func TestClaims(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a, b := startNamedNode(t, s, "a"), startNamedNode(t, s, "b")
	waitPeers(t, a.testNode, b.testNode)
	pa, pb := proctest.Spawn(t, a.node, host, nil), proctest.Spawn(t, b.node, host, nil)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	if err := a.names.Register(ctx, "{service}x", pa.PID); !errors.Is(err, process.ErrInvalidName) {
		t.Fatalf("a program registered a claim's name: %v", err)
	}
	if err := a.names.Claim(ctx, "service", pa.PID); !errors.Is(err, process.ErrInvalidName) {
		t.Fatalf("a claim spelt like a name: %v", err)
	}
	const claim = "{service}x"
	if err := a.names.Claim(ctx, claim, pa.PID); err != nil {
		t.Fatal(err)
	}
	if err := a.names.Claim(ctx, claim, pa.PID); err != nil {
		t.Fatalf("claiming again what one holds: %v", err)
	}
	if err := b.names.Claim(ctx, claim, pb.PID); !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("second claim: %v", err)
	}
	waitChange := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(timeout):
			t.Fatalf("no change seen: %s", what)
		}
	}
	// b waits until the claim is held (the update may still be on its
	// way), then until it is free.
	for {
		ch := b.names.Changed(claim)
		if holder, ok := b.names.LookupName(claim); ok && holder == pa.PID {
			break
		}
		waitChange(ch, "the claim taken")
	}
	freed := b.names.Changed(claim)
	if b.names.Release(ctx, claim, pb.PID) {
		t.Fatal("a process that does not hold the claim released it")
	}
	if !a.names.Release(ctx, claim, pa.PID) {
		t.Fatal("the holder could not release its claim")
	}
	waitChange(freed, "the claim released")
	if err := b.names.Claim(ctx, claim, pb.PID); err != nil {
		t.Fatalf("claim after the release: %v", err)
	}

	// The holder ends: its claim is freed (b's copy of the table had it
	// from the claim on).
	pb.Exit(nil)
	for {
		ch := b.names.Changed(claim)
		if _, ok := b.names.Holder(claim); !ok {
			break
		}
		waitChange(ch, "the claim freed when its holder ended")
	}
}

// TestCutOff: CutOff turns true once the node has been without NATS for
// half the heartbeat timeout, and false again once it is back; a claim
// while cut off fails at once.
func TestCutOff(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	px := netcut.Start(t, s.Addr().String())
	a := startNamedNodeAt(t, "nats://"+px.Addr(), "a")
	n, names := a.node, a.names
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	holder := proctest.Spawn(t, n, host, nil)
	// Connected, and its own heartbeat comes back (on a loaded machine it
	// may be late for a moment: that counts as cut off too).
	poll.Until(t, timeout, "not cut off while connected", func() bool { return !names.CutOff() })
	px.SetCut(true)
	cut := time.Now()
	poll.Until(t, timeout, "cut off", names.CutOff)
	if took, least := time.Since(cut), fastOptions().HeartbeatTimeout/2; took < least {
		t.Fatalf("cut off after %v, before half the heartbeat timeout (%v)", took, least)
	}
	if err := names.Claim(ctx, "{x}", holder.PID); !errors.Is(err, nats.ErrDisconnected) {
		t.Fatalf("claim while cut off: %v", err)
	}
	px.SetCut(false)
	poll.Until(t, timeout, "back", func() bool { return !names.CutOff() })
	if err := names.Claim(ctx, "{x}", holder.PID); err != nil {
		t.Fatalf("claim once back: %v", err)
	}
}
