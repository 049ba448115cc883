#!/usr/bin/env bash
# dev-down.sh [STATE_DIR]: stop what hack/dev-up.sh started (PIDs in STATE_DIR/pids).
exec "$(dirname "$0")/local-down.sh" "${1:-.local/dev}"
