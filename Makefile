# The README's test command is `make test`; .ci/run calls exactly that.
.PHONY: test bench fuzz

test:
	go vet ./...
	go test -race -count=1 ./...

bench:
	go test -run '^$$' -bench . -benchmem ./...

# Short fuzz runs of every parser; the seed corpora live in each package's testdata/.
fuzz:
	go test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./pid
