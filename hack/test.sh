#!/usr/bin/env bash
# test.sh: run every test (unit, envtest, e2e, fuzz seed corpora) against real
# kube-apiservers and moto_server. Installs/builds what it needs (cached outside
# the clone) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:--mod=mod}"
export GONOSUMDB="${GONOSUMDB:-k8s.io,sigs.k8s.io}"

KUBEBUILDER_ASSETS="$(hack/envtest-assets.sh)"
export KUBEBUILDER_ASSETS

if ! command -v moto_server >/dev/null; then
  echo "test.sh: moto_server is missing; install moto[server] 5.2.1 for python3" >&2
  exit 1
fi

# Tests that need PostgreSQL find its binaries through hack/postgres.sh.
if [[ -x hack/postgres.sh ]]; then
  NETCHANGE_PG_BIN="$(hack/postgres.sh bin)"
  export NETCHANGE_PG_BIN
fi

# -p 2: two packages at a time (each may start API servers); the e2e suite runs last.
pkgs=("$@")
[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(./...)
go test -count=1 -p 2 -timeout 30m "${pkgs[@]}"
