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

## fuzz-short: every fuzz target for FUZZTIME (CI); fuzz: the same for 5 minutes each
fuzz-short:
	@set -e; for m in $(MODULES); do \
	  for pkg in $$(cd $$m && go list -f '{{if .TestGoFiles}}{{.Dir}}{{end}}' ./...); do \
	    for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go 2>/dev/null | sed 's/func //'); do \
	      echo "== fuzz $$f in $${pkg#$(CURDIR)/} for $(FUZZTIME)"; \
	      (cd $$pkg && go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) .); \
	    done; done; done

fuzz:
	@$(MAKE) --no-print-directory fuzz-short FUZZTIME=5m

## bench: the benchmark harness over the real binaries (bench/), results in bench/results/
bench: build
	cd bench && go run ./cmd/bench -bin $(BIN) -out results

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
