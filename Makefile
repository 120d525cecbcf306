# glsotel: OpenTelemetry traces for Go programs through eBPF uprobes.
# Most targets need root (BPF, uprobes).

GO      ?= go
BIN     := bin
GOFLAGS_TEST ?= -count=1

.PHONY: all build demo demo-db demo-gls test vet generate check-generated bench bench-gls bench-inject offsets vmtest clean image demo-images compose-demo compose-down e2e-compose

all: build

build:
	$(GO) build -o $(BIN)/glsotel ./cmd/glsotel

$(BIN)/%: e2e/apps/%/main.go
	cd e2e/apps/$* && $(GO) build -o ../../../$(BIN)/$* .

# The agent tracing a demo HTTP service (server -> goroutines -> client
# calls), printing the trace trees it exports (console exporter).
demo: build $(BIN)/httpsvc
	OTEL_TRACES_EXPORTER=console OTEL_SERVICE_NAME=demo $(BIN)/glsotel run -- $(BIN)/httpsvc demo

# The agent tracing a service's database/sql calls (SQLite: no server
# needed): a transaction, goroutine fan-out, an error, a prepared statement.
demo-db: build $(BIN)/dbsvc
	OTEL_TRACES_EXPORTER=console OTEL_SERVICE_NAME=demo-db $(BIN)/glsotel run -- $(BIN)/dbsvc demo

# The agent tracing GLS markers: each goroutine's value, inherited or its own.
demo-gls: build $(BIN)/gls
	$(BIN)/glsotel run -- $(BIN)/gls demo

# Everything: unit tests, root BPF tests, end-to-end tests (they start
# their own PostgreSQL; install-deps installs the server when missing).
# Jaeger is built once (minutes) before the tests run, so no test waits on
# it; the compose test starts a Docker engine (scripts/docker.sh).
test: vet
	scripts/install-deps.sh
	scripts/jaeger.sh >/dev/null
	$(GO) test $(GOFLAGS_TEST) -timeout 30m ./...
	cd deploy/k8s && $(GO) test $(GOFLAGS_TEST) ./...

# The agent's sidecar image (deploy/Dockerfile): FROM scratch, the static
# binary and CA certificates only.
IMAGE ?= glsotel:latest
image:
	scripts/docker.sh
	rm -rf $(BIN)/image && mkdir -p $(BIN)/image
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/image/glsotel ./cmd/glsotel
	cp deploy/Dockerfile /etc/ssl/certs/ca-certificates.crt $(BIN)/image/
	DOCKER_BUILDKIT=0 docker build -q --build-arg VERSION=$$(git describe --always --dirty 2>/dev/null || echo dev) -t $(IMAGE) $(BIN)/image >/dev/null
	@docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' $(IMAGE)

# The compose demo's services (deploy/compose/demo): static, FROM scratch.
demo-images:
	scripts/docker.sh
	deploy/compose/build-demo-images.sh

# The demo with sidecars and Jaeger (deploy/compose/docker-compose.yml).
# Users get the official Jaeger and PostgreSQL images (pulled); set
# JAEGER_IMAGE / POSTGRES_IMAGE to use others.
COMPOSE := docker-compose -p glsotel-demo -f deploy/compose/docker-compose.yml
compose-demo: image demo-images
	$(COMPOSE) up -d
	@echo "demo up: curl http://127.0.0.1:8080/shop/1, then see the traces at http://localhost:16686 (services front, back); make compose-down stops it"

compose-down:
	$(COMPOSE) down -v

# The compose demo end to end: real engine, local images (Jaeger built
# from the module proxy), traces read back through Jaeger's API.
e2e-compose:
	scripts/install-deps.sh
	scripts/jaeger.sh >/dev/null
	$(GO) test $(GOFLAGS_TEST) -timeout 20m -v -run TestCompose ./e2e/compose/

vet:
	@bad=$$(gofmt -l .); if [ -n "$$bad" ]; then echo "gofmt: these files need formatting:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	cd e2e/apps/gls && $(GO) vet ./...
	cd e2e/apps/httpsvc && $(GO) vet ./...
	cd e2e/apps/dbsvc && $(GO) vet ./...
	cd e2e/apps/chain && $(GO) vet ./...
	cd e2e/apps/realsvc && $(GO) vet ./...
	for a in appmain muxsvc chisvc gorillasvc ginsvc echosvc proxy; do (cd e2e/apps/$$a && $(GO) vet ./...) || exit 1; done
	cd bench/apps/svc && $(GO) vet ./...
	cd deploy/compose/demo && $(GO) vet ./...
	cd deploy/k8s && $(GO) vet ./...

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

# What the agent costs a service, side by side in one run: the physical
# limit (uprobe hit, ring buffer submit), then bench/apps/svc with no
# instrumentation, glsotel, in-process otelhttp, glsotel always_off
# (interleaved rounds). Prints a table, writes bench/results/latest.json.
# make test runs it with tiny counts (bench.TestSmoke).
bench:
	$(GO) run ./bench

# What traceparent injection adds to a call between two instrumented
# processes (p50/p99 with GLSOTEL_INJECT=off and with this host's path,
# interleaved; added uprobe hits per call).
bench-inject:
	$(GO) test -count=1 -run '^$$' -bench Injection -benchtime 10x ./e2e/

# Regenerate the offsets table for stripped binaries (downloads toolchains).
offsets:
	$(GO) run ./offsets/gentable -o offsets/table.json go1.21.13 go1.22.12 go1.23.12 go1.24.13 go1.25.14 go1.26.8

# BPF tests in guest kernels: Debian's cloud 6.1 and 6.12 under qemu (TCG),
# booted without lockdown, so bpf_probe_write_user is allowed there
# (scripts/vmtest/README.md). Each package in VMTEST_PKGS is built static as a
# test binary and run in every kernel with -test.v and its VMTEST_ARGS_<pkg>
# (its testdata/ goes along). `make -k vmtest` goes on past a failing package.
VMTEST_KERNELS ?= 6.1 6.12
VMTEST_PKGS := propagation
# propagation: every test but two, picked with -test.skip so that new or
# renamed tests are run without a change here. Left out: TestContextParentsFirst
# and TestGLS, which build fixture programs with the go command, which the
# guest has not (BenchmarkGoroutineCreation too, but benchmarks don't run
# unless asked). What runs: the BPF_PROG_TEST_RUN harness (lookup_context,
# the traceparent parser), the Go parsers, and the sk_msg injector over real
# loopback sockets and the injection choice (write_user: no lockdown there).
VMTEST_ARGS_propagation := -test.skip '^(TestContextParentsFirst|TestGLS)$$'

.PHONY: $(VMTEST_PKGS:%=vmtest-%) vmtest-e2e
vmtest: $(VMTEST_PKGS:%=vmtest-%) vmtest-e2e

$(VMTEST_PKGS:%=vmtest-%): vmtest-%:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	CGO_ENABLED=0 $(GO) test -c -o "$$tmp/$(notdir $*).test" ./$* && \
	VMTEST_KERNELS="$(VMTEST_KERNELS)" scripts/vmtest/run-matrix $(if $(wildcard $*/testdata),-f $*/testdata) \
		-- "$$tmp/$(notdir $*).test" -test.v $(VMTEST_ARGS_$*)

# The cross-process e2e tests in every guest kernel with each injection path
# (write_user is allowed there), then on the host kernel (locked down:
# sk_msg). The guest has no Go toolchain: glsotel and the fixtures are built
# static beforehand and handed over (GLSOTEL_TEST_PREBUILT).
VMTEST_INJECT ?= write_user sk_msg
VMTEST_E2E := '^(TestCrossProcessPropagation|TestInjectionTLS|TestInspect|TestClientRetry|TestRequestLineLengths|TestReverseProxy)$$'
vmtest-e2e:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && mkdir "$$tmp/prebuilt" && \
	CGO_ENABLED=0 $(GO) build -o "$$tmp/prebuilt/glsotel" ./cmd/glsotel && \
	for app in chain gls proxy muxsvc chisvc gorillasvc ginsvc echosvc; do (cd e2e/apps/$$app && CGO_ENABLED=0 $(GO) build -o "$$tmp/prebuilt/$$app" .) || exit 1; done && \
	CGO_ENABLED=0 $(GO) test -c -o "$$tmp/e2e.test" ./e2e && \
	fail=0 && for p in $(VMTEST_INJECT); do \
		echo "=== vmtest: e2e with GLSOTEL_INJECT=$$p"; \
		VMTEST_KERNELS="$(VMTEST_KERNELS)" scripts/vmtest/run-matrix -f "$$tmp/prebuilt" -e GLSOTEL_TEST_PREBUILT=/work/prebuilt \
			-e GLSOTEL_E2E_INJECT=$$p -e GLSOTEL_INJECT=$$p -- "$$tmp/e2e.test" -test.v -test.run $(VMTEST_E2E) || fail=1; \
	done && \
	echo "=== vmtest: routes (the router probes' programs)" && \
	VMTEST_KERNELS="$(VMTEST_KERNELS)" scripts/vmtest/run-matrix -f "$$tmp/prebuilt" -e GLSOTEL_TEST_PREBUILT=/work/prebuilt \
		-- "$$tmp/e2e.test" -test.v -test.run '^TestRoutes$$' || fail=1; \
	echo "=== vmtest: e2e on the host kernel $$(uname -r)" && \
	(cd e2e && GLSOTEL_TEST_PREBUILT="$$tmp/prebuilt" "$$tmp/e2e.test" -test.v -test.run $(VMTEST_E2E)) || fail=1; \
	exit $$fail

clean:
	rm -rf $(BIN)
