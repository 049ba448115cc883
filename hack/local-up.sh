#!/usr/bin/env bash
# local-up.sh [CLUSTERS] [STATE_DIR]: start local Kubernetes API servers (default
# "control,auditor") and a moto_server on free loopback ports, in the background.
# Prints the environment to use them; hack/local-down.sh STATE_DIR stops exactly
# the processes it started (PIDs in STATE_DIR/pids).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/background.sh
clusters="${1:-control,auditor}"
state="${2:-.local/dev}"
export GOFLAGS="${GOFLAGS:--mod=mod}" GONOSUMDB="${GONOSUMDB:-k8s.io,sigs.k8s.io}"

assets="$(hack/envtest-assets.sh)"
mkdir -p "$state" .local/bin
go build -o .local/bin/localup ./hack/localup
start_in_background local-up "$state" 60 "$state/localup.log" \
  .local/bin/localup --state-dir "$state" --clusters "$clusters" --assets "$assets"
echo "local-up: running. To use it:"
echo "  source $state/env"
cat "$state/env"
