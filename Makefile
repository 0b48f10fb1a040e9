# Strata build. `make run` starts one node with data in ./data; `make test` is what CI runs.
GO        ?= go
BIN       := bin/strata
DATA_DIR  ?= ./data
TEST_TIMEOUT ?= 12m
FUZZTIME  ?= 10s
BENCHTIME ?= 1s

.PHONY: all build run test vet fuzz bench lint clean crash release

all: build

# `strata version` names the nearest tag and the commit (VERSION and COMMIT below).
build:
	$(GO) build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(BIN) ./cmd/strata

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

# Static binaries for each RELEASE_PLATFORMS entry under dist/, named
# strata-VERSION-OS-ARCH, with SHA256SUMS. VERSION comes from the nearest tag.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/arm64
RELEASE_LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

release:
	@rm -rf dist && mkdir -p dist
	@set -e; for p in $(RELEASE_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; out=dist/strata-$(VERSION)-$$os-$$arch; \
	  echo "== $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(RELEASE_LDFLAGS)" -o $$out ./cmd/strata; \
	done
	cd dist && sha256sum strata-* > SHA256SUMS

clean:
	rm -rf bin dist
