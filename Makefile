# Strata build. `make run` starts one node with data in ./data; `make test` is what CI runs.
GO        ?= go
BIN       := bin/strata
DATA_DIR  ?= ./data
TEST_TIMEOUT ?= 12m
FUZZTIME  ?= 10s
BENCHTIME ?= 1s

.PHONY: all build run test vet fuzz bench lint clean crash

all: build

build:
	$(GO) build -o $(BIN) ./cmd/strata

run: build
	$(BIN) serve --data-dir $(DATA_DIR)

vet:
	$(GO) vet ./...

test: vet
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

# Every fuzz target for FUZZTIME each. Targets are found with `go test -list`.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg; \
	  done; \
	done

# The long crash matrix: every file operation of the log workload (each write,
# sync, rename and directory sync of every roll), crashed and failed, 60 seeds;
# and a power loss of a whole 3-node cluster at every third file operation of
# a load with snapshots. `make test` runs a few points of each.
crash:
	STRATA_CRASH=full $(GO) test -race -count=1 -timeout 30m -run 'Crash' ./log/ ./segment/
	STRATA_CRASH=full $(GO) test -race -count=1 -timeout 30m -run 'PowerLoss' ./replication/

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./segment/ ./log/ ./topic/ ./fsm/ ./replication/

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) test -run TestImports ./internal/lint/

clean:
	rm -rf bin
