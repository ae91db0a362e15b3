# The README's test command is `make test`; .ci/run calls exactly that.
.PHONY: test bench fuzz

test:
	go vet ./...
	go test -race -count=1 ./...
	# the patched gopher-lua (a module of its own, see third_party/gopher-lua/PATCHES.md):
	# its generated vm.go/state.go must match their templates, and its tests pass
	$(MAKE) -C third_party/gopher-lua check-generated
	cd third_party/gopher-lua && go test -count=1 . ./pm ./parse

bench:
	go test -run '^$$' -bench . -benchmem ./...

# Short fuzz runs of every parser and decoder that sees outside bytes
# (clients, peer nodes, files); the seed corpora live in each package's
# testdata/. A short -fuzzminimizetime matters: with the default (60 s per
# new interesting input) the workers spend their time minimizing and the
# run barely executes anything.
FUZZ = go test -run '^$$' -fuzztime 30s -fuzzminimizetime 2s
fuzz:
	$(FUZZ) -fuzz '^FuzzParse$$' ./pid
	$(FUZZ) -fuzz '^FuzzParseJSON$$' ./value
	$(FUZZ) -fuzz '^FuzzDecodeBinary$$' ./value
	$(FUZZ) -fuzz '^FuzzAppendJSONString$$' ./value
	$(FUZZ) -fuzz '^FuzzLoad$$' ./config
	$(FUZZ) -fuzz '^FuzzEnvFile$$' ./config
	$(FUZZ) -fuzz '^FuzzDecodeJSON$$' ./luart
	$(FUZZ) -fuzz '^FuzzInbound$$' ./wsrelay
	$(FUZZ) -fuzz '^FuzzHostileFrames$$' ./wsrelay
	$(FUZZ) -fuzz '^FuzzParseHeader$$' ./wsrelay
	$(FUZZ) -fuzz '^FuzzPayloads$$' ./wsrelay
	$(FUZZ) -fuzz '^FuzzDecodeBatch$$' ./cluster
	$(FUZZ) -fuzz '^FuzzReassembly$$' ./cluster
	$(FUZZ) -fuzz '^FuzzEntryName$$' ./cluster
	$(FUZZ) -fuzz '^FuzzDecode$$' ./pg
	$(FUZZ) -fuzz '^FuzzJSONLen$$' ./observer
	$(FUZZ) -fuzz '^FuzzClipJSON$$' ./observer
	cd third_party/gopher-lua && $(FUZZ) -fuzz '^FuzzPatternFind$$' . && $(FUZZ) -fuzz '^FuzzCompile$$' . && $(FUZZ) -fuzz '^FuzzVMMatchesReference$$' ./pm
