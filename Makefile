# glsotel: OpenTelemetry traces for Go programs through eBPF uprobes.
# Most targets need root (BPF, uprobes).

GO      ?= go
BIN     := bin
GOFLAGS_TEST ?= -count=1

.PHONY: all build demo test vet generate check-generated bench-gls offsets clean

all: build

build:
	$(GO) build -o $(BIN)/glsotel ./cmd/glsotel

$(BIN)/gls: $(wildcard e2e/apps/gls/*.go)
	cd e2e/apps/gls && $(GO) build -o ../../../$(BIN)/gls .

# The agent tracing a program: each goroutine's GLS value, inherited or its own.
demo: build $(BIN)/gls
	$(BIN)/glsotel run -- $(BIN)/gls demo

# Everything: unit tests, root BPF tests, end-to-end tests.
test: vet
	$(GO) test $(GOFLAGS_TEST) ./...

vet:
	@bad=$$(gofmt -l .); if [ -n "$$bad" ]; then echo "gofmt: these files need formatting:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	cd e2e/apps/gls && $(GO) vet ./...

# Rebuild every BPF object with clang (installed from Debian when missing).
generate:
	scripts/install-deps.sh
	$(GO) generate ./...

check-generated: generate
	git diff --exit-code -- '*.go' '*.o' || (echo "generated BPF objects are stale: run make generate and commit" && exit 1)

# Uprobe hits per goroutine creation and the cost of a go statement with and
# without the agent, measured in one run.
bench-gls:
	$(GO) test -run '^$$' -bench GoroutineCreation -benchtime 5x ./propagation/

# Regenerate the offsets table for stripped binaries (downloads toolchains).
offsets:
	$(GO) run ./offsets/gentable -o offsets/table.json go1.21.13 go1.22.12 go1.23.12 go1.24.13 go1.25.14 go1.26.8

clean:
	rm -rf $(BIN)
