#!/bin/sh
# shape-renames.sh: re-applies the renames of the "package shape" work
# (loadtool, supervisor, wsrelay.Own, process/transport) to Go code that was
# written against the old names, e.g. a branch merged after them. Run it
# from the module root; it only rewrites identifiers, so it is safe to run
# twice. Afterwards run `go build ./... && go vet ./...`: an import it
# leaves unused (or one it could not add) is reported there, by file.
set -eu
cd "$(dirname "$0")/.."

# Go files outside third_party (the patched gopher-lua is a module of its own).
gofiles() { find . -name '*.go' -not -path './third_party/*' -not -path './.git/*'; }
# sedgo EXPR FILE...: sed -i on the Go files that contain PATTERN ($1 is a
# fixed string to select the files, $2 the sed expression).
sedgo() {
	files=$(gofiles | xargs grep -l -F -- "$1" 2>/dev/null || true)
	[ -z "$files" ] && return 0
	# shellcheck disable=SC2086
	sed -i -e "$2" $files
}

## A. The load tool: cmd/wsrelay dispatches to internal/loadtool.
# (cmdBench, cmdBaseline, baselineServer and startPprof were package main's.)
sedgo 'cmdBench(' 's/\bcmdBench(/loadtool.Bench(/g'
sedgo 'cmdBaseline(' 's/\bcmdBaseline(/loadtool.Baseline(/g'
sedgo 'startPprof(' 's/\bstartPprof(/pprofserve.Start(/g'

## B. The process.service supervisor: gateway -> supervisor.
# Inside gateway only the App's wiring used it (a.services is now a
# *supervisor.Supervisor: Add, Start, Await); no exported name changed.

## C. Owned targets: process.SpawnLog & co. -> wsrelay.Own.
# In luart the spawn is told through Options.OnSpawn.
for f in $(gofiles | xargs grep -l -F 'process.RecordSpawn(' 2>/dev/null || true); do
	case "$f" in
	./luart/*) sed -i -e 's/process\.RecordSpawn(\([^,]*\), /s.rt.spawned(\1, /g' "$f" ;;
	./wsrelay/*)
		if grep -q '^package wsrelay_test' "$f"; then
			sed -i -e 's/process\.RecordSpawn(/wsrelay.Own(/g' "$f"
		else
			sed -i -e 's/process\.RecordSpawn(/Own(/g' "$f"
		fi
		;;
	*) sed -i -e 's/process\.RecordSpawn(/wsrelay.Own(/g' "$f" ;;
	esac
done
for f in $(gofiles | xargs grep -l -E 'process\.(SpawnLog|WithSpawnLog)' 2>/dev/null || true); do
	case "$f" in
	./wsrelay/*) sed -i -e 's/process\.SpawnLogMax/MaxOwnedPerRequest/g; s/process\.SpawnLog\b/spawnLog/g; s/process\.WithSpawnLog(/withSpawnLog(/g' "$f" ;;
	*) echo "shape-renames: $f uses process.SpawnLog: mark owned targets with wsrelay.Own instead" >&2 ;;
	esac
done

## D. process's transport side -> process/transport.
# Types: process.{Signal,SignalKind,Sig*,Transport,RoomTransport,
# ReceiptTransport} -> transport.*; a Signal's Result is a
# transport.Result (process.Result converts to it).
# Node methods: HandleSignal, NodeDown, ReceiptsLost, TakenReady and
# DrainTaken are no longer *process.Node's: a transport gets them as the
# transport.Node that process.NewNode hands to its Attach (a
# transport.Receiver). In cluster they are called on Transport.side.
# The marker CarriesReceipts() became DeliverWithReceipt(transport.Signal) error.
TRIMPORT='"github.com/wsrelay/wsrelay/process/transport"'
for f in $(gofiles | grep -v '^\./process/[^/]*$' | xargs grep -l -E 'process\.(Signal|SignalKind|Sig[A-Z]|Transport\b|RoomTransport|ReceiptTransport|Node\.(HandleSignal|NodeDown|ReceiptsLost|TakenReady|DrainTaken))|CarriesReceipts|\.node\.(HandleSignal|NodeDown|ReceiptsLost|TakenReady|DrainTaken)\(' 2>/dev/null || true); do
	sed -i -E \
		-e 's/process\.(Signal|SignalKind|Sig[A-Z][A-Za-z]*|Transport|RoomTransport|ReceiptTransport)\b/transport.\1/g' \
		-e 's/(s\.Result = |Result: )process\.Result\{/\1transport.Result{/g' \
		-e 's/process\.Node\.(HandleSignal|NodeDown|ReceiptsLost|TakenReady|DrainTaken)\b/transport.Node.\1/g' \
		-e 's/^func \(([a-z]+) \*([A-Za-z]+)\) CarriesReceipts\(\) \{\}$/func (\1 *\2) DeliverWithReceipt(s transport.Signal) error { return \1.Deliver(s) }/' \
		"$f"
	case "$f" in
	./cluster/*) sed -i -E 's/\bt\.node\.(HandleSignal|NodeDown|ReceiptsLost|TakenReady|DrainTaken)\(/t.side.\1(/g' "$f" ;;
	esac
	# the import, beside process's; process's goes when nothing else uses it
	if grep -q 'transport\.' "$f" && ! grep -q -F "$TRIMPORT" "$f"; then
		sed -i "s#^\(\s*\)\"github.com/wsrelay/wsrelay/process\"\$#&\n\1$TRIMPORT#" "$f"
	fi
	gofmt -w "$f"
	if grep -n -E '\.(HandleSignal|NodeDown|ReceiptsLost|TakenReady|DrainTaken)\(' "$f" | grep -v 'side\.' >/dev/null; then
		echo "shape-renames: $f calls a transport-side method: call it on the transport.Node that Attach received" >&2
	fi
done
# process's import goes from files that now use it in comments only (it
# would not compile).
for f in $(gofiles | xargs grep -l '^\s*"github.com/wsrelay/wsrelay/process"$' 2>/dev/null || true); do
	if ! sed 's#//.*##' "$f" | grep -q '\bprocess\.'; then
		sed -i '\#^\s*"github.com/wsrelay/wsrelay/process"$#d' "$f"
	fi
done

## D2. The send variants: TrySend(from, to, topic, payload, limit) error
# (no caller outside tests) is gone, and TrySendReceipt(..., limit) (always
# called with limit 0) is now TrySend(from, to, topic, payload)
# (Receipt, error).
for f in $(gofiles | xargs grep -l -F 'TrySend' 2>/dev/null || true); do
	sed -i -E \
		-e 's/\berr := ([A-Za-z_][A-Za-z0-9_.()]*)\.TrySend\((.*), 0\)/_, err := \1.TrySend(\2)/' \
		-e 's/\.TrySendReceipt\((.*), 0\)/.TrySend(\1)/' \
		"$f"
	if grep -q -E '\.TrySendReceipt\(' "$f"; then
		echo "shape-renames: $f calls TrySendReceipt with a limit other than 0: TrySend has none" >&2
	fi
	sed -i -e 's/\bTrySendReceipt\b/TrySend/g' "$f" # comments
done
