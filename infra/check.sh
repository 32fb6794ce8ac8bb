#!/usr/bin/env bash
# CI check of the deployment files: bicep build and lint of every template, build-params of every parameter
# file, actionlint of every workflow. Fails on any warning: bicep exits 0 on warnings, so its output is read.
set -euo pipefail
cd "$(dirname "$0")/.."

bicep="$(bash infra/install-bicep.sh)"
"$bicep" --version

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log="$work/bicep.log"
: > "$log"

mapfile -t templates < <(find infra -name '*.bicep' -not -path '*/node_modules/*' | sort)
mapfile -t parameters < <(find infra -name '*.bicepparam' -not -path '*/node_modules/*' | sort)
if [[ ${#templates[@]} -eq 0 || ${#parameters[@]} -eq 0 ]]; then
  echo "infra/check.sh: no .bicep or .bicepparam file under infra/" >&2
  exit 1
fi

# One bicep process per command (its start-up dominates): --pattern covers every file found above.
"$bicep" build --pattern 'infra/**/*.bicep' --outdir "$work/arm" 2>&1 | tee -a "$log"
"$bicep" lint --pattern 'infra/**/*.bicep' 2>&1 | tee -a "$log"
"$bicep" build-params --pattern 'infra/**/*.bicepparam' --outdir "$work/parameters" 2>&1 | tee -a "$log"

if grep -qE '\b(Warning|Error)\b' "$log"; then
  echo "infra/check.sh: bicep reported the warnings or errors above; fix them (a rule that must not apply is turned off in infra/bicepconfig.json, with the reason)." >&2
  exit 1
fi
echo "bicep: ${#templates[@]} template(s) and ${#parameters[@]} parameter file(s) build and lint clean"

npm ci --prefix infra/lint --no-audit --no-fund --silent
node infra/lint/lint-workflows.mjs .github/workflows
