#!/usr/bin/env bash
# demo.sh: `make demo` — the whole product on local control planes, moto as AWS
# and the rules planner. Stops everything it started; exits non-zero if any
# scenario did not end as expected.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--mod=mod}" GONOSUMDB="${GONOSUMDB:-k8s.io,sigs.k8s.io}"
assets="$(hack/envtest-assets.sh)"
mkdir -p .local/bin
go build -o .local/bin/demo ./hack/demo
exec .local/bin/demo --assets "$assets" "$@"
