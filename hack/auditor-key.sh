#!/usr/bin/env bash
# auditor-key.sh OUT_DIR [KUBECONFIG NAMESPACE]
# Generates the auditor's ed25519 verdict signing key into OUT_DIR (ed25519.key,
# ed25519.pub) with `manager keygen`. Given a kubeconfig and a namespace of the
# AUDITOR cluster, it also creates the Secret netchange-auditor-signing-key there
# (data key ed25519.key). Give ed25519.pub to the executor (--verdict-public-keys).
set -euo pipefail
out="${1:?usage: auditor-key.sh OUT_DIR [KUBECONFIG NAMESPACE]}"
kubeconfig="${2:-}"
namespace="${3:-}"
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--mod=mod}" GONOSUMDB="${GONOSUMDB:-k8s.io,sigs.k8s.io}"
go run ./cmd/manager keygen --out-dir "$out"
if [[ -n "$kubeconfig" ]]; then
  [[ -n "$namespace" ]] || { echo "auditor-key.sh: a namespace is required with a kubeconfig" >&2; exit 2; }
  kubectl --kubeconfig "$kubeconfig" -n "$namespace" create secret generic netchange-auditor-signing-key \
    --from-file=ed25519.key="$out/ed25519.key"
  echo "created secret $namespace/netchange-auditor-signing-key; start the auditor with --signing-key-secret $namespace/netchange-auditor-signing-key"
fi
