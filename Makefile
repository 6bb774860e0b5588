# tailgate: make build | test | demo | lint | bench
GO      ?= go
BIN     := bin
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
DEMO    := .demo

.PHONY: build test unit integration demo lint deps clean bench

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/tailgate ./cmd/tailgate
	$(GO) build -o $(BIN)/tailgate-cluster ./cmd/tailgate-cluster

# Unit and integration tests (integration tests start real MariaDB servers).
test: deps lint
	$(GO) test -race -count=1 -timeout 14m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# MariaDB and sysbench from Debian's packages, installed when missing.
deps:
	@command -v mariadbd >/dev/null && command -v mariadb >/dev/null && command -v sysbench >/dev/null || { \
	  echo "installing mariadb-server mariadb-client sysbench (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client sysbench >/dev/null; }

# A local primary + 2 replicas and tailgate in front, in the foreground until Ctrl-C.
demo: deps build
	@scripts/demo.sh $(DEMO)

# sysbench, direct vs through tailgate, on its own primary + 2 replicas (about 9 minutes by default;
# BENCH_ARGS=-quick for a one-minute smoke run). Prints a table; results in bench/results/.
bench: deps build
	$(GO) run ./bench $(BENCH_ARGS)

clean:
	rm -rf $(BIN) $(DEMO)
