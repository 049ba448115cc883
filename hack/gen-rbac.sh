#!/usr/bin/env bash
# gen-rbac.sh <controller-gen>: generate one least-privilege ClusterRole per role
# (planner, auditor, executor) from the +kubebuilder:rbac markers of that role's
# controller package, into config/rbac/<role>/role.yaml.
set -euo pipefail
cg="${1:?usage: gen-rbac.sh <controller-gen>}"
for role in planner auditor executor; do
  pkg="./controllers/$role"
  [[ -d "$pkg" ]] || continue
  "$cg" rbac:roleName="netchange-$role" paths="$pkg/..." output:rbac:dir="config/rbac/$role"
done
