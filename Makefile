# Airlock — `make help` lists the targets.
SHELL      := /bin/bash
GO         ?= go
BIN        := bin/airlock
PLUGINS    := $(notdir $(wildcard plugins/*))
PLUGIN_OUT := build/plugins
DEMO_DIR   ?= $(CURDIR)/build/demo
STATICCHECK_VERSION := 2025.1.1

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/airlock
	$(GO) build -trimpath -o $(BIN) ./cmd/airlock

.PHONY: plugins
plugins: build ## Build every plugin under plugins/ to build/plugins/NAME/{module.wasm,manifest.json}
	@set -e; for p in $(PLUGINS); do \
	  mkdir -p $(PLUGIN_OUT)/$$p; \
	  $(BIN) plugin build plugins/$$p --out $(PLUGIN_OUT)/$$p/module.wasm >/dev/null; \
	  cp plugins/$$p/manifest.json $(PLUGIN_OUT)/$$p/manifest.json; \
	  echo "built $(PLUGIN_OUT)/$$p/module.wasm"; \
	done

.PHONY: demo
demo: plugins ## Start a dev host, run a signed tool call end to end, print each step
	DEMO_DIR=$(DEMO_DIR) BIN=$(BIN) bash examples/demo/run.sh

.PHONY: test
test: ## Install what the tests need and run them all (vet + race tests)
	bash .ci/prereqs
	$(GO) vet ./...
	$(GO) test -race -timeout 30m ./...

.PHONY: test-short
test-short: ## Tests without the race detector (quicker)
	$(GO) test ./...

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 10s)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-10s} $$pkg; \
	  done; \
	done

.PHONY: bench
bench: ## Run the benchmarks (BENCHTIME per benchmark, default 2s; HTTP_REQUESTS per HTTP run, default 1000); results go to BENCHMARKS.md by hand
	$(GO) test -run '^$$' -bench '^Benchmark(Reused|Fresh)Instance$$' -benchmem -benchtime $${BENCHTIME:-2s} -timeout 10m ./host/runtime/
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkHTTPIntents$$' -benchmem -benchtime $${BENCHTIME:-2s} -timeout 10m ./bench/...
	$(GO) test -run '^$$' -bench '^BenchmarkHTTPIntents$$' -benchmem -benchtime $${HTTP_REQUESTS:-1000}x -timeout 10m ./bench/
	$(GO) test -run '^$$' -bench '^Benchmark(Put|Query|Reopen)$$' -benchtime 20x -timeout 10m ./host/memory/

.PHONY: bench-memory-100k
bench-memory-100k: ## Agent memory at 100k documents per agent (query p50/p99, reopen time, heap); about 2 minutes
	$(GO) test -run '^$$' -bench '^Benchmark(Query100k|Reopen100k)$$' -benchtime 20x -timeout 30m ./host/memory/

.PHONY: staticcheck
staticcheck:
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: check
check: staticcheck ## gofmt, go vet, staticcheck, go mod tidy; fails on a dirty tree
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...
	$(GO) mod tidy
	@git diff --exit-code -- go.mod go.sum || { echo "go mod tidy changed go.mod/go.sum"; exit 1; }

.PHONY: clean
clean: ## Remove build outputs
	rm -rf bin build
