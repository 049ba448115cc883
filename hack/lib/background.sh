# background.sh: shared by hack/local-up.sh and hack/dev-up.sh (source it).
#
# start_in_background NAME STATE_DIR TIMEOUT_S LOG CMD...
#   Refuses when STATE_DIR/pids names a live process. Starts CMD in a new session in
#   the background (its output in LOG), waits up to TIMEOUT_S for STATE_DIR/ready,
#   and stops CMD's whole process group when it fails or times out.

start_in_background() {
  local name="$1" state="$2" timeout="$3" log="$4"
  shift 4
  if [[ -f "$state/pids" ]] && kill -0 "$(head -1 "$state/pids")" 2>/dev/null; then
    echo "$name: already running (state in $state); stop it first" >&2
    return 1
  fi
  mkdir -p "$state"
  rm -f "$state/ready"
  setsid nohup "$@" >"$log" 2>&1 </dev/null &
  local pid=$! i
  for ((i = 0; i < timeout * 2; i++)); do
    [[ -f "$state/ready" ]] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name: failed to start; see $log:" >&2
      tail -30 "$log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "$name: timed out after ${timeout}s; stopping what it started; see $log" >&2
  kill -TERM -- "-$pid" 2>/dev/null || true
  return 1
}
