# moat: the two commands of a fresh Debian machine are `make run` and
# `make test`. Everything they need is installed here, idempotently.

SHELL      := /bin/bash
GO         ?= go
export CGO_ENABLED := 0
GOBIN      := $(shell $(GO) env GOPATH)/bin
BIN        := bin
MOATD      := $(BIN)/moatd
GOFLAGS_BUILD := -trimpath -buildvcs=false -ldflags='-buildid='

STATICCHECK_VERSION := v0.8.2
PROTOC_GEN_GO_VERSION := v1.36.12
# Debian packages the tests and benchmarks need: dig and kdig as clients,
# dnsmasq as the reference peer, protoc for `make proto`, ip for network
# namespaces.
# gcc and libc6-dev: the race detector needs cgo.
# DHCP clients for the end-to-end tests: isc-dhcp-client (dhclient),
# dhcpcd-base (dhcpcd), busybox (udhcpc), isc-dhcp-relay (dhcrelay);
# kea-admin ships perfdhcp and kea-dhcp4-server the peer of bench-dhcp.
APT_PACKAGES := dnsutils knot-dnsutils dnsmasq-base protobuf-compiler iproute2 procps gcc libc6-dev dnsperf busybox \
	isc-dhcp-client dhcpcd-base isc-dhcp-relay kea-admin kea-dhcp4-server
FUZZTIME   ?= 5s

.PHONY: all build run test deps apt-deps go-tools check unit e2e fuzz fuzz-ci bench bench-dns bench-dhcp proto clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build $(GOFLAGS_BUILD) -o $(MOATD) ./cmd/moatd
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/moatctl ./cmd/moatctl

# Runs moatd in the foreground with the development configuration:
# 127.0.0.1:5353, forwarding to the machine's resolvers, no root needed.
run: build
	$(MOATD) --conf-file=contrib/moatd-dev.conf --no-daemon

deps: apt-deps go-tools

# apt-get update runs once, and only when a package is missing.
apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run make deps as root)"; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing </dev/null; \
	fi

go-tools:
	@command -v $(GO) >/dev/null || { echo "Go 1.26 or newer is needed (see README)"; exit 1; }
	@[ -x $(GOBIN)/staticcheck ] || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@[ -x $(GOBIN)/protoc-gen-go ] || $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

# The README's test command. Root (or CI=true, which is root) runs the
# namespace and sandbox tests too; elsewhere they skip and say why.
test: deps check unit e2e fuzz-ci

check:
	@echo "== gofmt, go vet, staticcheck"
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "not gofmt'd: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...

# Packages with goroutines of their own also run under the race detector.
# The detector needs cgo, and cgo disables the all-threads syscalls the
# sandbox relies on, so seccomp and worker start-up are tested without it.
RACE_PKGS := ./ipc/... ./dnsd/... ./dhcpd/... ./scriptd/... ./masterd/... ./internal/cache/... ./internal/hosts/... ./internal/leasestore/...

unit:
	@echo "== package tests"
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /test$$)
	@echo "== race detector on packages with concurrency"
	CGO_ENABLED=1 $(GO) test -race -count=1 $(RACE_PKGS)

e2e: build
	@echo "== end-to-end tests (real binary, network namespaces)"
	$(GO) test -count=1 -v -timeout 10m ./test/ 2>&1 | tee $(BIN)/e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|e2e:' ; exit $${PIPESTATUS[0]}

# Every fuzz target, briefly (make fuzz FUZZTIME=10m for a real run).
fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

fuzz:
	@FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

bench: build
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...
	@$(MAKE) --no-print-directory bench-dns
	@$(MAKE) --no-print-directory bench-flood

# moatd against dnsmasq with dnsperf (docs/performance.md): the servers on
# CPU 0, dnsperf and the benchmark upstream on CPU 1, loopback only.
# make bench-dns BENCH_DURATION=10s BENCH_RUNS=3 BENCH_FLAGS='-sets hot,cold'
BENCH_DURATION ?= 10s
BENCH_RUNS     ?= 3
BENCH_FLAGS    ?=
bench-dns: apt-deps build
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/bench-upstream ./bench/upstream
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/dnsbench ./bench/dnsbench
	$(BIN)/dnsbench -moatd $(MOATD) -upstream $(BIN)/bench-upstream -duration $(BENCH_DURATION) -runs $(BENCH_RUNS) $(BENCH_FLAGS)

# dnsd's CPU under a flood of forged replies and of queries at its upstream
# query ports, per socket-filter= mode (SECURITY.md "Socket filters");
# needs root, says so and does nothing otherwise. Loopback only.
# make bench-flood FLOODBENCH_FLAGS='-packets 3000000 -modes classic,ebpf'
.PHONY: bench-flood
FLOODBENCH_FLAGS ?=
bench-flood: build
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/floodbench ./bench/floodbench
	$(BIN)/floodbench -moatd $(MOATD) $(FLOODBENCH_FLAGS)

# moatd's DHCP server against dnsmasq and Kea with perfdhcp (docs/performance.md):
# two network namespaces and a veth pair, the server on CPU 0, perfdhcp on
# CPU 1, 50,000 simulated clients; needs root. Not part of make test.
# make bench-dhcp DHCPBENCH_FLAGS='-servers moat,kea -step 10s -nice -10'
DHCPBENCH_FLAGS ?=
bench-dhcp: apt-deps build
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/dhcpbench ./bench/dhcpbench
	$(BIN)/dhcpbench -moatd $(MOATD) $(DHCPBENCH_FLAGS)

proto: go-tools
	PATH="$(GOBIN):$$PATH" protoc --go_out=. --go_opt=paths=source_relative ipc/proto/*.proto

clean:
	rm -rf $(BIN)

# Packaging and reproducible builds (issues 6 and 7; packaging/, SECURITY.md
# "Verifying a binary"). Every binary is built with GOFLAGS_BUILD:
# -trimpath (no build paths), -buildvcs=false (no VCS stamp, so a dirty
# tree and a tarball build alike), -buildid= (no content-hash build ID),
# CGO_ENABLED=0; with the same Go release, two builds of one commit are
# byte-identical. `make deb` packages them with dpkg-deb alone (no
# debhelper); the .deb's timestamps are the commit's (SOURCE_DATE_EPOCH).
.PHONY: deb verify-reproducible docs
DEB_DIR ?= $(BIN)
MOATCTL := $(BIN)/moatctl
deb: build
	@if [ -d cmd/moatctl ]; then echo "$(GO) build $(GOFLAGS_BUILD) -o $(MOATCTL) ./cmd/moatctl"; \
	  $(GO) build $(GOFLAGS_BUILD) -o $(MOATCTL) ./cmd/moatctl; fi
	GO=$(GO) packaging/build-deb.sh $(MOATD) "$$([ -d cmd/moatctl ] && echo $(MOATCTL))" $(DEB_DIR)

# Builds everything twice, in two directories and with an empty build
# cache the second time, and compares sha256 sums (slow: a cold build).
verify-reproducible:
	packaging/verify-reproducible.sh

# Documentation generated from the code: the man pages from the option
# table, and docs/policy.md from the privileges the code enforces.
docs: build
	$(GO) run ./internal/config/genman -dir man
	$(MOATD) --print-policy >docs/policy.md.tmp && mv docs/policy.md.tmp docs/policy.md
