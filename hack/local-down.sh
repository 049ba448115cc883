#!/usr/bin/env bash
# local-down.sh [STATE_DIR]: stop exactly the processes hack/local-up.sh started.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${1:-.local/dev}"
pidfile="$state/pids"
[[ -f "$pidfile" ]] || { echo "local-down: nothing to stop ($pidfile missing)"; exit 0; }
mapfile -t pids < "$pidfile"
# The supervisor (first PID) stops its children itself on SIGTERM.
kill -TERM "${pids[0]}" 2>/dev/null || true
for _ in $(seq 1 40); do
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [[ $alive == 0 ]] && break
  sleep 0.5
done
for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
rm -f "$pidfile" "$state/ready"
echo "local-down: stopped ${#pids[@]} processes"
