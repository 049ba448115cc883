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
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

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
build: ## Build the manager and the kubectl plugin into bin/.
	go build -o $(BIN)/manager ./cmd/manager

##@ Test
.PHONY: test
test: verify lint ## Run every test (unit, envtest, e2e) on real API servers and moto; installs what it needs.
	hack/test.sh
