# tailgate: make build | test | demo | lint | bench
GO      ?= go
BIN     := bin
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
DEMO    := .demo

.PHONY: build test unit integration demo lint deps clean bench demo-ha compose-check

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/tailgate ./cmd/tailgate
	$(GO) build -o $(BIN)/tailgate-cluster ./cmd/tailgate-cluster

# Unit and integration tests (integration tests start real MariaDB servers). One package at a
# time (-p 1): the lag tests measure milliseconds and must not share the two cores with
# another package's clusters. Then fuzz-short: every fuzz target for a bounded time (below).
test: deps lint compose-check
	$(GO) test -race -count=1 -p 1 -timeout 14m -bench . -benchtime 1x ./...
	@$(MAKE) --no-print-directory fuzz-short

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# MariaDB, sysbench, HAProxy, docker-compose and Python's MySQLdb (libmariadb's client, for
# COM_CHANGE_USER) from Debian's packages, installed when missing.
deps:
	@command -v mariadbd >/dev/null && command -v mariadb >/dev/null && command -v sysbench >/dev/null \
	  && command -v haproxy >/dev/null && command -v docker-compose >/dev/null \
	  && /usr/bin/python3 -c 'import MySQLdb' 2>/dev/null || { \
	  echo "installing mariadb-server mariadb-client sysbench haproxy docker-compose python3-mysqldb (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client sysbench haproxy docker-compose python3-mysqldb >/dev/null; }

# A local primary + 2 replicas and tailgate in front, in the foreground until Ctrl-C.
demo: deps build
	@scripts/demo.sh $(DEMO)

# The HA topology of docker-compose.yml on loopback: the same local cluster, two tailgates and
# HAProxy (installed when missing) on 127.0.0.1:6000, in the foreground until Ctrl-C.
demo-ha: deps build
	@scripts/demo-ha.sh $(DEMO)

# docker-compose.yml must stay valid (no Docker engine needed).
compose-check:
	@command -v docker-compose >/dev/null || { echo "compose-check needs docker-compose: apt-get install -y docker-compose"; exit 1; }
	docker-compose config -q

# sysbench, direct vs through tailgate vs HAProxy (l4), on its own primary + 2 replicas (about 15 minutes by default;
# BENCH_ARGS=-quick for a two-minute smoke run). Prints a table; results in bench/results/.
bench: deps build
	$(GO) run ./bench $(BENCH_ARGS)

clean:
	rm -rf $(BIN) $(DEMO)

# Fuzz targets, as package:Name; add new ones to one of the two lists. The decoders of
# untrusted bytes the fuzzing issue names (packet reader, handshake response, command
# decoding, statement classifier) fuzz FUZZ_TEST_TIME each in make test, the others
# FUZZ_TEST_OTHER_TIME, one after the other without -race (about 5 minutes with the
# defaults). make fuzz runs every target for FUZZTIME. A crasher lands in
# <package>/testdata/fuzz/<Name>/ and fails the run; commit it, and go test replays it.
# scripts/fuzz.sh repeats once a run that Go's fuzztime deadline race (golang/go#75804, Go
# before 1.27) ended with a bare "context deadline exceeded" and no failing input.
FUZZ_MAIN  := ./proxy:FuzzReadPacket ./proxy:FuzzHandshake ./proxy:FuzzCommand ./router:FuzzClassify
FUZZ_OTHER := ./proxy:FuzzReadCompressedPacket ./proxy:FuzzParseOK ./proxy:FuzzParseChangeUser ./proxy:FuzzSessionTrack ./proxy:FuzzSessionTrackGTIDs \
	./router:FuzzShape ./router:FuzzLeadingHints ./config:FuzzParse ./admin:FuzzParseCommand \
	./replication:FuzzDecodeMySQLGTIDEvents ./replication:FuzzParseMySQLSet
FUZZ_TARGETS := $(FUZZ_MAIN) $(FUZZ_OTHER)
FUZZTIME             ?= 60s
FUZZ_TEST_TIME       ?= 45s
FUZZ_TEST_OTHER_TIME ?= 10s
.PHONY: fuzz fuzz-short
fuzz:
	@GO=$(GO) scripts/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)

fuzz-short:
	@GO=$(GO) scripts/fuzz.sh $(FUZZ_TEST_TIME) $(FUZZ_MAIN) && GO=$(GO) scripts/fuzz.sh $(FUZZ_TEST_OTHER_TIME) $(FUZZ_OTHER)
