#!/usr/bin/env bash
# tools.sh <tool>: build a pinned development tool once, cache it outside the clone
# (${XDG_CACHE_HOME:-$HOME/.cache}/netchange/tools) and print its path.
#   controller-gen  sigs.k8s.io/controller-tools v0.20.1
#   helm            helm.sh/helm/v3 v3.19.0
set -euo pipefail

tool="${1:?usage: tools.sh controller-gen|helm}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/netchange/tools"

case "$tool" in
  controller-gen) pkg="sigs.k8s.io/controller-tools/cmd/controller-gen"; mod="sigs.k8s.io/controller-tools"; ver="v0.20.1" ;;
  helm) pkg="helm.sh/helm/v3/cmd/helm"; mod="helm.sh/helm/v3"; ver="v3.19.0" ;;
  *) echo "tools.sh: unknown tool $tool (want controller-gen or helm)" >&2; exit 2 ;;
esac

bin="$CACHE/$tool-$ver"
if [[ ! -x "$bin" ]]; then
  echo "tools.sh: building $tool $ver (once)" >&2
  mkdir -p "$CACHE"
  GOBIN="$CACHE/.gobin-$tool-$ver" GOFLAGS=-mod=mod GOWORK=off go install "$pkg@$ver" >&2
  mv "$CACHE/.gobin-$tool-$ver/$tool" "$bin"
  rmdir "$CACHE/.gobin-$tool-$ver" 2>/dev/null || true
fi
echo "$bin"
