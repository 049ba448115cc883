# netchange Makefile. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export GOFLAGS ?= -mod=mod
export GONOSUMDB ?= k8s.io,sigs.k8s.io

CONTROLLER_GEN = $(shell hack/tools.sh controller-gen)
BIN ?= bin

##@ General
.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
.PHONY: generate
generate: ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: ## Generate CRDs and RBAC roles (config/crd, config/rbac) and the chart copies.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	hack/gen-rbac.sh "$(CONTROLLER_GEN)"
	hack/sync-chart-crds.sh

.PHONY: verify
verify: generate manifests ## Regenerate everything and fail on any difference from the committed tree.
	@hack/verify-clean.sh

.PHONY: lint
lint: ## gofmt and go vet.
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; if [[ -n "$$out" ]]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	go vet ./...

##@ Build
.PHONY: build
build: ## Build the manager into bin/.
	go build -o $(BIN)/manager ./cmd/manager

##@ Test
.PHONY: test
test: verify lint ## Run every test (unit, envtest, e2e) on real API servers and moto; installs what it needs.
	hack/test.sh

.PHONY: e2e
e2e: ## Run only the end-to-end suite (manager processes in three roles, two API servers, moto).
	hack/test.sh ./test/e2e/...

.PHONY: bench
bench: ## Run the benchmarks (speed and memory targets are measured here, not in tests).
	go test -run='^$$' -bench=. -benchmem ./...

##@ Local stack
.PHONY: demo
demo: ## Run the whole product on local control planes, moto as AWS and the rules planner; prints the results.
	hack/demo.sh

.PHONY: dev-up
dev-up: ## Start the demo stack and leave it running; prints the kubeconfigs and environment to export.
	hack/dev-up.sh

.PHONY: dev-down
dev-down: ## Stop what dev-up started.
	hack/dev-down.sh

.PHONY: local-up
local-up: ## Start two local API servers (control, auditor) and moto, nothing else.
	hack/local-up.sh

.PHONY: local-down
local-down: ## Stop what local-up started.
	hack/local-down.sh
