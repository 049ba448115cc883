#!/usr/bin/env bash
# sync-chart-crds.sh: copy the generated CRDs into each Helm chart's crds/ folder.
# Charts that do not exist yet are skipped.
set -euo pipefail
for chart in charts/netchange charts/netchange-auditor; do
  [[ -d "$chart" ]] || continue
  mkdir -p "$chart/crds"
  rm -f "$chart"/crds/*.yaml
  cp config/crd/bases/*.yaml "$chart/crds/"
done
