# AccessBridge — one Makefile for the whole workspace.
# Modules are read from go.work, so a new module is built, tested and linted
# as soon as it is listed there.

SHELL := /bin/bash
MODULES := $(shell sed -n 's|^[[:space:]]*\./||p' go.work)
BIN := $(CURDIR)/bin
TOOLS := $(BIN)/tools
export PATH := $(TOOLS):$(PATH)

STATICCHECK_VERSION := v0.8.2
NATS_SERVER_VERSION := v2.15.2
KUSTOMIZE_VERSION := v5.8.2
HELM_VERSION := v3.22.1
NATSCLI_VERSION := v0.5.1
IMAGE_TAG ?= local
SERVICES := teleport-bridge jira-bridge webhook-ingress mattermost-bridge
GO_TEST_FLAGS ?= -race -count=1 -timeout 20m
FUZZTIME ?= 10s
# Executions spent minimizing each new input (see fuzz-short).
FUZZMINIMIZETIME ?= 100x
# Stamped into every binary (accessbridge version, /status, accessbridge_build_info).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILDINFO := github.com/accessbridge/accessbridge/pkg/service/buildinfo
LDFLAGS := -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT)
IMAGE_LABELS := --label org.opencontainers.image.version=$(VERSION) --label org.opencontainers.image.revision=$(COMMIT)

.PHONY: all build version test soak bench-go test-modules test-gowork-off lint fmt tools demo bench fuzz fuzz-short clean images compose-test secrets helm docs

all: build

## build: every binary into ./bin
build:
	@mkdir -p $(BIN)
	@set -e; for m in $(MODULES); do \
	  mains=$$(cd $$m && go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./...); \
	  [ -z "$$mains" ] || (cd $$m && go build -ldflags "$(LDFLAGS)" -o $(BIN)/ $$mains); done
	@ls $(BIN) | grep -v tools || true

## version: the version `make build` stamps into the binaries
version:
	@echo $(VERSION)

## test: every module with -race in the workspace, then each module alone (GOWORK=off)
test: tools test-modules test-gowork-off

## soak: the long variants of the end-to-end and fault suite (test/)
soak: tools
	mkdir -p tmp && set -o pipefail && cd test && SOAK=1 go test -count=1 -timeout 150m -v ./... 2>&1 | tee $(CURDIR)/tmp/soak.log

test-modules:
	@set -e; for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GO_TEST_FLAGS) ./...); done

# Each module must also build (tests included) on its own, with only its
# go.mod: the per-service Docker builds and `go mod tidy` depend on it.
test-gowork-off:
	@set -e; for m in $(MODULES); do echo "== GOWORK=off go vet $$m"; (cd $$m && GOWORK=off go vet ./...); done

## lint: gofmt, go vet and staticcheck over every module
lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do echo "== vet+staticcheck $$m"; (cd $$m && go vet ./... && staticcheck ./...); done

fmt:
	@gofmt -w $$(git ls-files '*.go')

## tools: pinned developer tools into ./bin/tools (helm: Debian has no package; built from source, a few minutes once)
tools: $(TOOLS)/staticcheck $(TOOLS)/nats-server $(TOOLS)/kustomize $(TOOLS)/helm $(TOOLS)/nats

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) GOWORK=off go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(TOOLS)/nats-server:
	GOBIN=$(TOOLS) GOWORK=off CGO_ENABLED=0 go install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

$(TOOLS)/kustomize:
	GOBIN=$(TOOLS) GOWORK=off go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

$(TOOLS)/helm:
	GOBIN=$(TOOLS) GOWORK=off CGO_ENABLED=0 go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# The nats CLI, to watch the demo's and a deployment's streams.
$(TOOLS)/nats:
	GOBIN=$(TOOLS) GOWORK=off CGO_ENABLED=0 go install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION)

## helm: copy deploy/helm/_common.tpl into every chart, lint them, rewrite the golden files of `helm template`
helm: $(TOOLS)/helm
	@for c in deploy/helm/*/Chart.yaml; do cp deploy/helm/_common.tpl $$(dirname $$c)/templates/_common.tpl; done
	cd deploy && go test -count=1 -run 'Helm|Charts' . -update

## fuzz-short: every fuzz target of every package (internal and external test
## files), counted, each fuzzing for FUZZTIME; fuzz: the same for 5 minutes.
## go test's -fuzztime also counts the replay of the target's cached corpus
## ("gathering baseline coverage"), which grows with every run and can eat
## the whole budget (a target then reports a few executions). So each target
## first replays its corpus alone (-fuzztime 1x), and the fuzzing run gets
## FUZZTIME plus the time that replay took. The summary shows each target's
## replay, the CPU time its fuzzing used (workers included) and the
## executions Go reports. Go minimizes every new interesting input before
## it goes on, for up to 60 s each by default, and those executions are not
## counted: seeded with real 10 KiB webhooks, a target spent its whole
## budget minimizing and reported ~10 executions. FUZZMINIMIZETIME bounds
## that (100 executions per input; a crasher is written all the same).
## A run that fails with a bare "context deadline exceeded" and writes no
## input is a race in Go's coordinator at the -fuzztime deadline (its stop
## compares the deadline error with the workers' context, which may not be
## cancelled yet; internal/fuzz/fuzz.go in go1.26): noted in the summary,
## not a finding; any other failure stops.
fuzz-short:
	@set -eo pipefail; t=$(CURDIR)/tmp; mkdir -p $$t; rm -f $$t/fuzz-targets $$t/fuzz-summary; \
	for m in $(MODULES); do \
	  (cd $$m && go list -f '{{.Dir}}{{range .TestGoFiles}} {{.}}{{end}}{{range .XTestGoFiles}} {{.}}{{end}}' ./...) | \
	  while read -r dir files; do \
	    [ -n "$$files" ] || continue; \
	    for f in $$(cd $$dir && grep -ho '^func Fuzz[A-Za-z0-9_]*(' $$files | sed 's/^func //; s/($$//'); do \
	      echo "$$dir $$f" >> $$t/fuzz-targets; done; \
	  done; done; \
	ft=$(FUZZTIME); case $$ft in *h) ft=$$(( $${ft%h} * 3600 ));; *m) ft=$$(( $${ft%m} * 60 ));; *s) ft=$${ft%s};; \
	  *) echo "FUZZTIME=$$ft: give seconds, minutes or hours (10s, 5m, 1h)"; exit 2;; esac; \
	total=$$(wc -l < $$t/fuzz-targets); i=0; \
	echo "== $$total fuzz targets, $(FUZZTIME) of fuzzing each"; \
	while read -r dir f; do \
	  i=$$((i+1)); rel=$${dir#$(CURDIR)/}; \
	  t0=$$(date +%s); (cd $$dir && go test -run '^$$' -fuzz "^$$f$$" -fuzztime 1x . > $$t/fuzz-out 2>&1) || { cat $$t/fuzz-out; exit 1; }; \
	  replay=$$(( $$(date +%s) - t0 )); corpus=$$(grep -o 'baseline coverage: [0-9]*/[0-9]*' $$t/fuzz-out | tail -1 | cut -d/ -f2); \
	  echo "== [$$i/$$total] $$f in $$rel: $${corpus:-0} corpus entries replayed in $${replay}s; fuzzing $$((ft + replay))s"; \
	  note=""; TIMEFORMAT='%U %S'; { time (cd $$dir && go test -run '^$$' -fuzz "^$$f$$" -fuzztime $$((ft + replay))s -fuzzminimizetime $(FUZZMINIMIZETIME) . > $$t/fuzz-out 2>&1) ; } 2> $$t/fuzz-time \
	    || { if grep -q 'Failing input written' $$t/fuzz-out || ! grep -q '^    context deadline exceeded$$' $$t/fuzz-out; then cat $$t/fuzz-out; exit 1; fi; \
	         note=" (ended in Go's race at the -fuzztime deadline: no input failed)"; }; \
	  grep -v '^fuzz: elapsed: [0-9]*s, \(execs\|gathering\)' $$t/fuzz-out || true; \
	  cpu=$$(awk '{printf "%.0f", $$1 + $$2}' $$t/fuzz-time); \
	  last=$$(grep '^fuzz: elapsed: [0-9]*s, execs' $$t/fuzz-out | tail -1 | sed 's/^fuzz: elapsed: [0-9]*s, //; s/ ([0-9]*\/sec)//'); \
	  echo "$$f ($$rel): corpus $${corpus:-0} replayed in $${replay}s, then $$((ft + replay))s of fuzzing on $${cpu} CPU-seconds; go reports $$last$$note" >> $$t/fuzz-summary; \
	done < $$t/fuzz-targets; \
	echo "== $$total fuzz targets run:"; cat $$t/fuzz-summary

fuzz:
	@$(MAKE) --no-print-directory fuzz-short FUZZTIME=5m

## bench: the benchmark harness over the real binaries (bench/), results in bench/results/
bench: build
	cd bench && go run ./cmd/bench -bin $(BIN) -out results
	@echo "== mattermost-bridge: Mattermost calls per lifecycle, latency event → post, memory (bench/results/mattermost-bridge-LATEST.txt)"
	set -o pipefail && cd services/mattermost-bridge && go test -run '^$$' -bench . -benchtime 200x . | tee $(CURDIR)/bench/results/mattermost-bridge-LATEST.txt

## bench-go: the go test benchmarks of every module (benchstat-friendly: COUNT=6 make bench-go > new.txt)
COUNT ?= 1
bench-go:
	@set -e; for m in $(MODULES); do (cd $$m && go test -run '^$$' -bench . -benchmem -count $(COUNT) ./...); done

## demo: the whole loop on this machine (emulated Teleport and Jira); DEMO_EXIT=1 exits after the scenario;
##   DEMO_PORTS=+10000 moves every port, DEMO_PORTS=jira=9080,ingress=9081 some (jira teleport teleport-admin ingress ops nats)
demo: build
	@$(BIN)/demo -bin $(BIN)/accessbridge -dir $(CURDIR)/tmp/demo $(if $(DEMO_PORTS),-ports '$(DEMO_PORTS)')

## docs: regenerate the configuration tables in README.md from the code
docs:
	@cd cmd/accessbridge && go run . docs-readme $(CURDIR)/README.md

## images: static binaries in FROM-scratch images, built locally (no registry needed)
images:
	@set -e; ctx=$$(mktemp -d); trap 'rm -rf $$ctx' EXIT; \
	cp /etc/ssl/certs/ca-certificates.crt deploy/docker/nats.conf $$ctx/; mkdir $$ctx/data; \
	(cd cmd/healthcheck && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $$ctx/healthcheck .); \
	for s in $(SERVICES); do \
	  (cd services/$$s && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $$ctx/$$s ./cmd/$$s); \
	  docker build -q $(IMAGE_LABELS) -f deploy/docker/Dockerfile --build-arg BINARY=$$s -t accessbridge/$$s:$(IMAGE_TAG) $$ctx; \
	done; \
	(cd cmd/accessbridge && GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $$ctx/accessbridge .); \
	docker build -q $(IMAGE_LABELS) -f deploy/docker/Dockerfile --build-arg BINARY=accessbridge -t accessbridge/accessbridge:$(IMAGE_TAG) $$ctx; \
	GOBIN=$$ctx GOWORK=off CGO_ENABLED=0 go install -trimpath github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION); \
	docker build -q -f deploy/docker/Dockerfile.nats -t accessbridge/nats:$(IMAGE_TAG) $$ctx; \
	docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^accessbridge/'

## compose-test: the demo scenario against the compose stack, deployed as deploy/compose's README says (starts dockerd when needed)
compose-test: build
	@bash deploy/compose/compose-test.sh

## secrets: the secret files of deploy/compose, readable by the images' uid 65532
##   make secrets IDENTITY=path/to/identity JIRA_TOKEN=path/to/token   (the webhook secret is generated)
secrets:
	@bash deploy/compose/secrets.sh --dir deploy/compose/secrets $(if $(IDENTITY),--identity $(IDENTITY)) $(if $(JIRA_TOKEN),--jira-token-file $(JIRA_TOKEN)) \
	  || { echo "with make: make secrets IDENTITY=path/to/identity JIRA_TOKEN=path/to/token" >&2; exit 1; }
clean:
	rm -rf $(BIN)
