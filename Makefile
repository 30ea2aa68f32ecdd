# fluxrelay — `make help` lists the targets.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT      ?= $(shell git rev-parse --short HEAD 2>/dev/null)
PKG_VERSION ?= 0.1.0
PKG_ARCHES  ?= amd64 arm64 armv7
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOBUILD     := CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)"
# What the packages and make cross ship: without the developer's tools
# (mock-core and its fake Fluxvend); make build and make run keep them.
RELEASE     := -tags release
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME   ?= 30000x
FUZZTIME    ?= 20s
TEST_OUTPUT := build/test-output
SCREENSHOTS := dist/screenshots
SHELL       := /bin/bash
# package:fuzzer[:minimize time]; the intake's fuzzer stores into a real Badger store, whose own
# goroutines make nearly every input look new: it does not minimize them.
FUZZERS     := ./provider/:FuzzCore ./provider/:FuzzTopLevel ./provider/:FuzzMonnify ./provider/:FuzzMoniepoint \
               ./provider/:FuzzOPay ./provider/:FuzzOPayPOS ./provider/:FuzzVesicash ./config/:FuzzLoad \
               ./ingest/:FuzzAcceptedIsDeliverable:0s ./ingest/:FuzzHeaders ./ingest/mqttingest/:FuzzEnvelope \
               ./notification/:FuzzFingerprintIsCanonical

ROUNDS      ?= 20
ARM64_SUITES := ./store/ ./provider/ ./relay/ ./config/ ./notification/ ./ingest/httpingest/
ARMV7_SUITES := $(ARM64_SUITES)
# The suites that run for windows/amd64 under wine (make test-windows): every package with tests
# but the Linux packaging and unit, the benchmarks, the upgrade tests and the tools.
WINDOWS_SUITES := ./store/ ./config/ ./daemon/ ./cmd/fluxrelay/ ./admin/ ./alert/ ./health/ ./ingest/ \
	./ingest/httpingest/ ./ingest/mqttingest/ ./internal/jsonscan/ ./internal/listen/ ./internal/testoutput/ \
	./notification/ ./provider/ ./relay/ ./remotewrite/
WINDOWS_TIMEOUT ?= 10m
STEADY_RATE ?= 300
STEADY_FOR  ?= 10m

.PHONY: help build run test test-arm64 test-upgrade test-windows lint bench steady fuzz attack soak powercut cross package armv7-check clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/fluxrelay (with the developer's mock-core; make cross and make package build without it)
	$(GOBUILD) -o bin/fluxrelay ./cmd/fluxrelay

run: build ## run mock-core and the daemon on the development config (Ctrl-C stops both)
	@dev/run.sh || true   # Ctrl-C ends it; the programs print their own errors

test: ## run every test with the race detector (the status page's screenshots in dist/screenshots), then scan all they printed for secrets
	@rm -rf $(TEST_OUTPUT) $(SCREENSHOTS) && mkdir -p $(TEST_OUTPUT) $(SCREENSHOTS)
	@set -o pipefail; FLUXRELAY_TEST_OUTPUT=$(CURDIR)/$(TEST_OUTPUT) FLUXRELAY_SCREENSHOTS=$(CURDIR)/$(SCREENSHOTS) go test -race -count=1 -timeout 20m -v ./... 2>&1 \
		| tee $(TEST_OUTPUT)/go-test.log | grep -E '^(ok|FAIL|--- FAIL|--- SKIP|panic:|\?)|^\s+\S+_test\.go:[0-9]+:'
	@$(MAKE) --no-print-directory test-arm64
	go run ./internal/secretscan . $(TEST_OUTPUT)

test-arm64: ## the store, provider, relay, config, notification and HTTP suites for linux/arm64, and the store's for armv7, under qemu-user
	@mkdir -p $(TEST_OUTPUT)
	@if ! command -v qemu-aarch64 >/dev/null 2>&1; then \
	  if [ "$$CI" = true ]; then echo "qemu-aarch64 is not installed; .ci/run should have installed qemu-user"; exit 1; fi; \
	  echo "--- SKIP: the arm64 suites: qemu-aarch64 is not installed (apt-get install qemu-user)"; exit 0; \
	fi; \
	echo "== linux/arm64 under qemu-aarch64"; \
	set -o pipefail; FLUXRELAY_TEST_OUTPUT=$(CURDIR)/$(TEST_OUTPUT) CGO_ENABLED=0 GOOS=linux GOARCH=arm64 \
	  go test -count=1 -timeout 20m -exec qemu-aarch64 $(ARM64_SUITES) 2>&1 \
	  | tee $(TEST_OUTPUT)/go-test-arm64.log | grep -E '^(ok|FAIL|--- FAIL|panic:)|^\s+\S+_test\.go:[0-9]+:' && \
	echo "== linux/arm (GOARM=7) under qemu-arm" && \
	FLUXRELAY_TEST_OUTPUT=$(CURDIR)/$(TEST_OUTPUT) CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 \
	  go test -count=1 -timeout 20m -exec qemu-arm $(ARMV7_SUITES) 2>&1 \
	  | tee $(TEST_OUTPUT)/go-test-armv7.log | grep -E '^(ok|FAIL|--- FAIL|panic:)|^\s+\S+_test\.go:[0-9]+:'

test-upgrade: ## stores the end of each earlier round wrote (built from git history, cached in build/oldbuilds) drained by this build; the previous .deb upgraded, downgraded
	@mkdir -p $(TEST_OUTPUT)
	@set -o pipefail; rc=0; export FLUXRELAY_TEST_OLDBUILDS=1; \
	go test -count=1 -timeout 30m -v ./internal/oldbuild/ ./upgrade/ 2>&1 | tee $(TEST_OUTPUT)/go-test-upgrade.log \
		| grep -E '^(ok|FAIL|--- |panic:)|^\s+\S+_test\.go:[0-9]+:' || rc=1; \
	go test -count=1 -timeout 30m -v -run '^TestDebUpgradeAndDowngrade$$' ./packaging/ 2>&1 | tee -a $(TEST_OUTPUT)/go-test-upgrade.log \
		| grep -E '^(ok|FAIL|--- |panic:)|^\s+\S+_test\.go:[0-9]+:' || rc=1; \
	exit $$rc

test-windows: ## the suites for windows/amd64 under wine, then fluxrelay.exe, its service and the MSI under wine (docs/windows.md)
	@mkdir -p $(TEST_OUTPUT)
	@set -o pipefail; FLUXRELAY_TEST_OUTPUT=$(CURDIR)/$(TEST_OUTPUT) go run ./tools/winetest -out build/windows \
	  -timeout $(WINDOWS_TIMEOUT) -linux ./packaging/windows/ $(WINDOWS_SUITES) 2>&1 | tee $(TEST_OUTPUT)/go-test-windows.log
	go run ./internal/secretscan . $(TEST_OUTPUT)

lint: ## gofmt, go vet, a pinned staticcheck, and go.mod as go mod tidy leaves it
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@go mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy and commit the result"; exit 1; }
	go vet ./...
	GOOS=windows go vet $(WINDOWS_SUITES)
	go run $(STATICCHECK) ./...

bench: ## measure ingest against raw fsync on this disk, on a throttled one, and the idle daemon (see BENCHMARKS.md)
	go test -run '^$$' -bench . -skip 'SlowDisk|Idle' -benchtime $(BENCHTIME) -timeout 30m ./bench/ ./store/
	go test -run '^$$' -bench 'SlowDisk|Idle' -benchtime 1x -timeout 30m ./bench/

steady: ## a steady STEADY_RATE/s (300) for STEADY_FOR (10m): every acknowledged notification is delivered without a restart
	STEADY_RATE=$(STEADY_RATE) STEADY_FOR=$(STEADY_FOR) go test -run '^$$' -bench '^BenchmarkSteady$$' -benchtime 1x -timeout 40m ./bench/

soak: ## the crash test with 100 SIGKILLs, then disk full and the bad-input flood, with -race
	FLUXRELAY_CRASH_ROUNDS=100 go test -race -count=1 -timeout 60m -run 'TestCrashLosesNothing|TestDiskFull|TestBadInputFlood' -v ./daemon/ 2>&1 | grep -E '^(---|ok|FAIL|PASS)|_test.go'

powercut: ## pull the plug ROUNDS times (20) on the daemon in a qemu guest: nothing acknowledged may be lost (tools/powercut/README.md)
	go run ./tools/powercut -rounds $(ROUNDS) -out build/powercut

fuzz: ## run each fuzzer (parsers, the intake's limits, the MQTT envelope) for FUZZTIME (default 20s)
	@for f in $(FUZZERS); do IFS=: read -r pkg name min <<< "$$f"; echo "== $$name ($$pkg)"; \
	  go test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $${min:-60s} $$pkg || exit 1; done

attack: ## the hostile-LAN table: attack a daemon built from this tree on loopback ports (tools/attack)
	go run ./tools/attack

cross: ## build for every supported platform into dist/
	GOOS=linux GOARCH=amd64 $(GOBUILD) $(RELEASE) -o dist/fluxrelay-linux-amd64 ./cmd/fluxrelay
	GOOS=linux GOARCH=arm64 $(GOBUILD) $(RELEASE) -o dist/fluxrelay-linux-arm64 ./cmd/fluxrelay
	GOOS=linux GOARCH=arm GOARM=7 $(GOBUILD) $(RELEASE) -o dist/fluxrelay-linux-armv7 ./cmd/fluxrelay
	GOOS=windows GOARCH=amd64 $(GOBUILD) $(RELEASE) -o dist/fluxrelay-windows-amd64.exe ./cmd/fluxrelay

bin/nfpm: tools/nfpm/go.mod tools/nfpm/go.sum
	cd tools/nfpm && go build -o ../../bin/nfpm github.com/goreleaser/nfpm/v2/cmd/nfpm

PKG_LDFLAGS := -s -w -X main.version=$(PKG_VERSION) -X main.commit=$(COMMIT)

package: bin/nfpm ## build dist/fluxrelay_<ver>_<arch>.deb and .rpm for amd64, arm64 and armv7, and dist/fluxrelay-<ver>-x64.msi (binary version = package version)
	@mkdir -p dist/bin
	CGO_ENABLED=0 go build -trimpath $(RELEASE) -ldflags "$(PKG_LDFLAGS)" -o dist/bin/fluxrelay-host ./cmd/fluxrelay
	go run ./tools/gendocs -bin dist/bin/fluxrelay-host -version $(PKG_VERSION) -out dist/docs
	@for arch in $(PKG_ARCHES); do \
	  case $$arch in armv7) goarch=arm; nfpmarch=arm7;; *) goarch=$$arch; nfpmarch=$$arch;; esac; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$goarch GOARM=7 go build -trimpath $(RELEASE) -ldflags "$(PKG_LDFLAGS)" -o dist/bin/fluxrelay ./cmd/fluxrelay || exit 1; \
	  for p in deb rpm; do \
	    NFPM_ARCH=$$nfpmarch PKG_VERSION=$(PKG_VERSION) \
	      bin/nfpm package --config packaging/nfpm.yaml --packager $$p --target dist/ || exit 1; \
	  done; \
	done
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -trimpath $(RELEASE) -ldflags "$(PKG_LDFLAGS)" -o dist/bin/fluxrelay.exe ./cmd/fluxrelay
	@if command -v wixl >/dev/null 2>&1; then \
	  sh packaging/windows/msi.sh $(PKG_VERSION) dist/bin/fluxrelay.exe dist/fluxrelay-$(PKG_VERSION)-x64.msi; \
	elif [ "$$CI" = true ]; then echo "wixl is not installed; .ci/run should have installed it"; exit 1; \
	else echo "--- SKIP: the MSI: wixl is not installed (apt-get install wixl)"; fi
	@ls -1 dist/*.deb dist/*.rpm dist/*.msi 2>/dev/null

armv7-check: ## run the store's reopen test for linux/arm (GOARM=7) under qemu-arm: is Badger safe there?
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go test -c -o bin/store-armv7.test ./store/
	qemu-arm bin/store-armv7.test -test.run 'TestReopenLargeTable|TestReopenTablesOfEveryRecordSize|TestEvictionBeforeRefusal|TestReopen$$' -test.v

clean: ## remove build output and development data
	rm -rf bin dist dev-data
