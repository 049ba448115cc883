#!/usr/bin/env bash
# envtest-assets.sh: produce the binaries envtest needs on a fresh machine and
# print the directory that holds them (for KUBEBUILDER_ASSETS).
#
#   kube-apiserver  built from the Go module proxy (k8s.io/kubernetes $KUBE_VERSION)
#   etcd            Debian's etcd-server package (installed with apt-get if missing)
#   kubectl         the machine's kubectl if present, else built like kube-apiserver
#
# Everything is cached under ${XDG_CACHE_HOME:-$HOME/.cache}/netchange, outside the
# clone, and reused by later runs. Progress goes to stderr; stdout is the directory.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
STAGING_VERSION="v0${KUBE_VERSION#v1}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/netchange"
ASSETS="$CACHE/envtest/$KUBE_VERSION"
mkdir -p "$ASSETS"

log() { echo "envtest-assets: $*" >&2; }

build_kube() { # build_kube <cmd> : builds k8s.io/kubernetes/cmd/<cmd> into $ASSETS
  local cmd="$1" work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  log "building $cmd $KUBE_VERSION from the Go module proxy (a few minutes, once)"
  (
    cd "$work"
    export GONOSUMDB="k8s.io,sigs.k8s.io" GOFLAGS="-mod=mod" GOWORK=off CGO_ENABLED=0
    go mod init netchange.local/kubebuild >/dev/null 2>&1
    go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null
    local modfile
    modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBE_VERSION.mod"
    go mod edit -require "k8s.io/kubernetes@$KUBE_VERSION"
    # Every staging module that k8s.io/kubernetes replaces with ./staging/... is
    # replaced here with its published version.
    grep -E '^\s+k8s.io/[a-z0-9-]+ => \./staging/' "$modfile" | awk '{print $1}' | while read -r m; do
      go mod edit -replace "$m=$m@$STAGING_VERSION"
    done
    printf 'package main\nimport _ "k8s.io/kubernetes/cmd/%s"\n' "$cmd" >tools.go
    go mod tidy >/dev/null 2>&1 || true
    go build -trimpath -ldflags "-s -w" -o "$ASSETS/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  )
  mv "$ASSETS/$cmd.tmp" "$ASSETS/$cmd"
}

if [[ ! -x "$ASSETS/kube-apiserver" ]]; then
  build_kube kube-apiserver
fi

if [[ ! -x "$ASSETS/etcd" ]]; then
  etcd_bin="$(command -v etcd || true)"
  if [[ -z "$etcd_bin" ]]; then
    log "installing Debian etcd-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends etcd-server >&2
    # The package may start a system etcd service on :2379; envtest runs its own,
    # so stop that service (only it: other etcd processes on the machine are left alone).
    (systemctl stop etcd 2>/dev/null || service etcd stop 2>/dev/null || true) >&2
    etcd_bin="$(command -v etcd)"
  fi
  ln -sf "$etcd_bin" "$ASSETS/etcd"
fi

if [[ ! -x "$ASSETS/kubectl" ]]; then
  if command -v kubectl >/dev/null; then
    ln -sf "$(command -v kubectl)" "$ASSETS/kubectl"
  else
    build_kube kubectl
  fi
fi

echo "$ASSETS"
