#!/usr/bin/env bash
# dev-up.sh [STATE_DIR]: start the demo stack (two API servers, moto with the seeded
# estate, planner/auditor/executor processes) and leave it running in the background.
# Prints the kubeconfig paths and the environment to export. hack/dev-down.sh stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/background.sh
state="${1:-.local/dev}"
export GOFLAGS="${GOFLAGS:--mod=mod}" GONOSUMDB="${GONOSUMDB:-k8s.io,sigs.k8s.io}"

assets="$(hack/envtest-assets.sh)"
mkdir -p "$state" .local/bin
go build -o .local/bin/demo ./hack/demo
start_in_background dev-up "$state" 180 "$state/dev-up.log" \
  .local/bin/demo --dev-up --state-dir "$state" --assets "$assets"
echo "dev-up: running (logs in $state/logs). To use it: source $state/env"
cat "$state/env"
