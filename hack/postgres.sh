#!/usr/bin/env bash
# postgres.sh: a throwaway PostgreSQL 15 server for tests and local runs.
#
#   hack/postgres.sh bin         print the PostgreSQL 15 bin directory (installs
#                                Debian's postgresql with apt-get when missing)
#   hack/postgres.sh start DIR   initdb DIR (when empty) and start postgres on a free
#                                127.0.0.1 port as the postgres user; prints the DSN
#   hack/postgres.sh stop DIR    stop exactly the server whose data directory is DIR
#
# initdb and postgres refuse to run as root, so as root they run through
# `runuser -u postgres --` and DIR is chowned to postgres. NETCHANGE_PG_BIN
# overrides the bin directory.
set -euo pipefail

PG_VERSION=15

die() { echo "postgres.sh: $*" >&2; exit 1; }

pg_bin() {
  if [[ -n "${NETCHANGE_PG_BIN:-}" ]]; then
    [[ -x "$NETCHANGE_PG_BIN/postgres" ]] || die "NETCHANGE_PG_BIN=$NETCHANGE_PG_BIN has no postgres binary"
    echo "$NETCHANGE_PG_BIN"
    return
  fi
  local dir="/usr/lib/postgresql/$PG_VERSION/bin"
  if [[ ! -x "$dir/postgres" ]]; then
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL $PG_VERSION is not installed; run as root or: sudo apt-get install postgresql"
    echo "postgres.sh: installing Debian postgresql (PostgreSQL $PG_VERSION)" >&2
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
    [[ -x "$dir/postgres" ]] || die "apt-get installed postgresql but $dir/postgres is missing (is it PostgreSQL $PG_VERSION?)"
  fi
  echo "$dir"
}

# as_pg runs a command as the postgres user when we are root.
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cmd_start() {
  local dir="${1:-}"
  [[ -n "$dir" ]] || die "usage: postgres.sh start DIR"
  local bin; bin="$(pg_bin)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "there is no postgres user (install Debian's postgresql package)"
    chown postgres "$dir"
  fi
  chmod 700 "$dir"
  if [[ ! -f "$dir/PG_VERSION" ]]; then
    as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/../$(basename "$dir").initdb.log" 2>&1 \
      || as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$dir/../$(basename "$dir").initdb.log" 2>&1 \
      || die "initdb $dir failed; see $dir/../$(basename "$dir").initdb.log"
  fi
  local port try
  for try in 1 2 3 4 5; do
    port="$(free_port)"
    if as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' -c fsync=on" start >/dev/null; then
      echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
      return 0
    fi
  done
  die "postgres did not start on a loopback port; see $dir/postgres.log"
}

cmd_stop() {
  local dir="${1:-}"
  [[ -n "$dir" ]] || die "usage: postgres.sh stop DIR"
  [[ -f "$dir/postmaster.pid" ]] || { echo "postgres.sh: no server running in $dir" >&2; return 0; }
  local pid; pid="$(head -n1 "$dir/postmaster.pid")"
  local bin; bin="$(pg_bin)"
  if ! as_pg "$bin/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null; then
    # pg_ctl could not stop it: signal exactly the PID of the pid file.
    kill -TERM "$pid" 2>/dev/null || true
  fi
}

case "${1:-}" in
  bin) pg_bin ;;
  start) cmd_start "${2:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  *) die "usage: postgres.sh bin | start DIR | stop DIR" ;;
esac
