#!/usr/bin/env bash
# dev-up.sh [STATE_DIR]: start the demo stack (two API servers, moto with the seeded
# estate, planner/auditor/executor processes) and leave it running in the background.
# Prints the kubeconfig paths and the environment to export. hack/dev-down.sh stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${1:-.local/dev}"
export GOFLAGS="${GOFLAGS:--mod=mod}" GONOSUMDB="${GONOSUMDB:-k8s.io,sigs.k8s.io}"
if [[ -f "$state/pids" ]] && kill -0 "$(head -1 "$state/pids")" 2>/dev/null; then
  echo "dev-up: already running (state in $state); run make dev-down first" >&2
  exit 1
fi
assets="$(hack/envtest-assets.sh)"
mkdir -p "$state" .local/bin
go build -o .local/bin/demo ./hack/demo
rm -f "$state/ready"
setsid nohup .local/bin/demo --dev-up --state-dir "$state" --assets "$assets" >"$state/dev-up.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 360); do
  [[ -f "$state/ready" ]] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "dev-up: failed; see $state/dev-up.log:" >&2
    tail -30 "$state/dev-up.log" >&2
    exit 1
  fi
  sleep 0.5
done
if [[ ! -f "$state/ready" ]]; then
  echo "dev-up: timed out; stopping what it started; see $state/dev-up.log" >&2
  kill -TERM -- "-$pid" 2>/dev/null || true
  exit 1
fi
echo "dev-up: running (logs in $state/logs). To use it: source $state/env"
cat "$state/env"
