#!/usr/bin/env bash
# local-up.sh [CLUSTERS] [STATE_DIR]: start local Kubernetes API servers (default
# "control,auditor") and a moto_server on free loopback ports, in the background.
# Prints the environment to use them; hack/local-down.sh STATE_DIR stops exactly
# the processes it started (PIDs in STATE_DIR/pids).
set -euo pipefail
cd "$(dirname "$0")/.."
clusters="${1:-control,auditor}"
state="${2:-.local/dev}"
export GOFLAGS="${GOFLAGS:--mod=mod}" GONOSUMDB="${GONOSUMDB:-k8s.io,sigs.k8s.io}"

if [[ -f "$state/pids" ]] && kill -0 "$(head -1 "$state/pids")" 2>/dev/null; then
  echo "local-up: already running (state in $state); run hack/local-down.sh $state first" >&2
  exit 1
fi
assets="$(hack/envtest-assets.sh)"
mkdir -p "$state" .local/bin
go build -o .local/bin/localup ./hack/localup
rm -f "$state/ready"
setsid nohup .local/bin/localup --state-dir "$state" --clusters "$clusters" --assets "$assets" \
  >"$state/localup.log" 2>&1 < /dev/null &
pid=$!
for _ in $(seq 1 120); do
  [[ -f "$state/ready" ]] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "local-up: failed to start; see $state/localup.log:" >&2
    tail -20 "$state/localup.log" >&2
    exit 1
  fi
  sleep 0.5
done
if [[ ! -f "$state/ready" ]]; then
  echo "local-up: timed out; stopping what it started; see $state/localup.log" >&2
  kill -TERM -- "-$pid" 2>/dev/null || true
  exit 1
fi
echo "local-up: running. To use it:"
echo "  source $state/env"
cat "$state/env"
