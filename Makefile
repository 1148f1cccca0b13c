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
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-18s %s\n", $$1, $$2}'

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
	$(MAKE) test-chromem

# The patched chromem-go (third_party/chromem-go/AIRLOCK.md) is a module of
# its own: its tests, upstream's and the patch's, run here, with a private
# TMPDIR (one upstream test writes to $$TMPDIR/a).
.PHONY: test-chromem
test-chromem:
	@T=$$(mktemp -d) && (cd third_party/chromem-go && TMPDIR=$$T $(GO) test -race -count=1 ./...); rc=$$?; rm -rf "$$T"; exit $$rc

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

CLANG ?= clang
WASM_LD ?= wasm-ld

.PHONY: testdata-c
testdata-c: ## Rebuild host/runtime/testdata/c/ctool.wasm from ctool.c (needs: apt-get install clang lld)
	$(CLANG) --target=wasm32 -O2 -nostdlib -fuse-ld=$$(command -v $(WASM_LD)) -Wl,--no-entry -Wl,--export-dynamic \
	  -o host/runtime/testdata/c/ctool.wasm host/runtime/testdata/c/ctool.c

RUSTC ?= rustc

.PHONY: testdata-rust
testdata-rust: ## Rebuild host/runtime/testdata/rust/rusttool.wasm from rusttool.rs (needs: apt-get install rustc libstd-rust-dev-wasm32)
	$(RUSTC) --edition 2021 --target wasm32-unknown-unknown --crate-type cdylib -C opt-level=2 -C panic=abort -C strip=symbols \
	  -o host/runtime/testdata/rust/rusttool.wasm host/runtime/testdata/rust/rusttool.rs

BENCH_OUT := build/bench

.PHONY: bench
bench: bench-as ## Run every benchmark (about 6 minutes; the first run also builds the 1M-entry audit log, about 2 more) and print the summary with ratios and targets
	@mkdir -p $(BENCH_OUT)
	set -o pipefail; { \
	  $(GO) test -run '^$$' -bench '^Benchmark(Tool|Pipeline|PipelineBreakdown|PipelineParallel|AuditAppend|ProofVerify|GrantVerify|SignRequest|AuditAppends)$$' -benchmem -benchtime $${BENCHTIME:-2s} -timeout 20m ./bench/ && \
	  $(GO) test -run '^$$' -bench '^BenchmarkHTTPIntents$$' -benchmem -benchtime $${HTTP_REQUESTS:-4000}x -timeout 10m ./bench/ && \
	  $(GO) test -run '^$$' -bench '^Benchmark(Restart10Plugins|AuditOpen1M|AuditRebuild1M)$$' -benchtime 3x -timeout 20m ./bench/ && \
	  $(GO) test -run '^$$' -bench '^Benchmark(AuditVerify1M|AuditProof)$$' -benchtime 1s -timeout 20m ./bench/ && \
	  $(GO) test -run '^$$' -bench '^Benchmark(Scan|Apply|ApplyProse)$$' -benchmem -benchtime 1s -timeout 10m ./host/inject/ ./host/dlp/ && \
	  $(GO) test -run '^$$' -bench '^Benchmark(Put|Query|Reopen)$$' -benchtime 20x -timeout 10m ./host/memory/; \
	} 2>&1 | tee $(BENCH_OUT)/bench.txt
	@echo
	$(GO) run ./bench/cmd/benchsummary $(BENCH_OUT)/bench.txt | tee $(BENCH_OUT)/summary.md

.PHONY: bench-as
bench-as: ## Build the AssemblyScript benchmark tool to build/bench/asecho.wasm (npm ci + asc); without npm its rows are skipped
	@rm -f $(BENCH_OUT)/asecho.wasm; \
	if ! command -v npm >/dev/null 2>&1; then \
	  echo "bench-as: npm not found: the AssemblyScript tool (as-echo) is not built and its benchmark rows are skipped"; exit 0; \
	fi; \
	rm -rf $(BENCH_OUT)/asecho && mkdir -p $(BENCH_OUT)/asecho && \
	cp -r bench/testdata/asecho/package.json bench/testdata/asecho/package-lock.json bench/testdata/asecho/assembly $(BENCH_OUT)/asecho/ && \
	( cd $(BENCH_OUT)/asecho && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build ) && \
	cp $(BENCH_OUT)/asecho/build/asecho.wasm $(BENCH_OUT)/asecho.wasm && echo "bench-as: built $(BENCH_OUT)/asecho.wasm" || \
	echo "bench-as: building the AssemblyScript tool failed (see above): its benchmark rows are skipped"

.PHONY: bench-audit-1m
bench-audit-1m: ## Build (once, cached in build/bench/audit-1m-v2.db; about 2 minutes) the 1M-entry audit log and time its verification, reload and proofs
	@mkdir -p $(BENCH_OUT)
	set -o pipefail; $(GO) test -run '^$$' -bench '^Benchmark(AuditVerify1M|AuditOpen1M|AuditRebuild1M|AuditProof)$$' -benchtime 1s -timeout 30m ./bench/ 2>&1 | tee $(BENCH_OUT)/audit-1m.txt
	$(GO) run ./bench/cmd/benchsummary $(BENCH_OUT)/audit-1m.txt

# The quick subset of bench-check and bench-baseline (about 2 minutes).
BENCH_QUICK = { \
	  $(GO) test -run '^$$' -bench '^Benchmark(Tool|PipelineBreakdown|GrantVerify|AuditAppends)$$' -benchtime 1s -timeout 10m ./bench/ && \
	  $(GO) test -run '^$$' -bench '^BenchmarkHTTPIntents$$/^mode=/^agents=8$$' -benchtime 300x -timeout 10m ./bench/ && \
	  $(GO) test -run '^$$' -bench '^BenchmarkRestart10Plugins$$' -benchtime 2x -timeout 10m ./bench/; \
	}

.PHONY: bench-check
bench-check: bench-as ## Quick benchmarks compared with bench/baseline.txt: fails on a clear regression (in-run ratios, absolute values only beyond 3x)
	@mkdir -p $(BENCH_OUT)
	set -o pipefail; $(BENCH_QUICK) 2>&1 | tee $(BENCH_OUT)/check.txt
	$(GO) run ./bench/cmd/benchcheck bench/baseline.txt $(BENCH_OUT)/check.txt

.PHONY: bench-baseline
bench-baseline: bench-as ## Run bench-check's benchmarks and write them to bench/baseline.txt (commit it)
	set -o pipefail; $(BENCH_QUICK) 2>&1 | tee bench/baseline.txt

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
