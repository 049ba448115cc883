#!/usr/bin/env bash
# verify-clean.sh: fail when regenerated files differ from the committed tree.
set -euo pipefail
paths=(api config charts)
changed="$(git status --porcelain -- "${paths[@]}" 2>/dev/null || true)"
if [[ -n "$changed" ]]; then
  echo "generated files are out of date; run 'make generate manifests' and commit:" >&2
  echo "$changed" >&2
  git --no-pager diff --stat -- "${paths[@]}" >&2 || true
  exit 1
fi
echo "verify: generated files are up to date"
