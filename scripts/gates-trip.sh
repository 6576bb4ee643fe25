#!/usr/bin/env bash
# Shows that each gate of `npm run check` trips: in a scratch clone of HEAD, each case runs its gate
# on the clean clone (it must pass), plants one violation, and expects the gate to fail. Prints one line per gate;
# exits non-zero if a gate let its violation through. Run after `npm ci`: bash scripts/gates-trip.sh
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git clone -q "$repo" "$scratch/sluice"
ln -s "$repo/node_modules" "$scratch/sluice/node_modules"
cd "$scratch/sluice"

failures=0
trip() {
  local name=$1 plant=$2 gate=$3
  git checkout -q -- . && git clean -fdq -e node_modules
  # Control: on the clean clone the gate passes, so a trip below is the planted violation's doing.
  if ! eval "$gate" >/dev/null 2>&1; then
    echo "FAIL  $name: the gate fails on the clean clone too (cannot show it tripping)"
    failures=$((failures + 1))
    return
  fi
  eval "$plant"
  if eval "$gate" >/dev/null 2>&1; then
    echo "FAIL  $name: the gate passed with the violation planted"
    failures=$((failures + 1))
  else
    echo "trips $name"
  fi
}

trip 'formatter (Biome)' \
  "printf 'export const  badly={a:1,\n b:2}\n' > lambdas/core/unformatted.ts" \
  'npx biome format .'
trip 'dead code (knip)' \
  "printf '\nexport function neverCalled(): number {\n  return 1;\n}\n' >> lambdas/core/names.ts" \
  'npx knip --no-progress'
trip 'unused dependency (knip)' \
  "node -e \"const f='package.json';const p=JSON.parse(require('fs').readFileSync(f));p.dependencies['left-pad']='1.3.0';require('fs').writeFileSync(f,JSON.stringify(p,null,2))\"" \
  'npx knip --no-progress'
trip 'import cycle (dependency-cruiser)' \
  "printf \"import { b } from './cycle-b.ts';\nexport const a = (): number => b() + 1;\n\" > lambdas/core/cycle-a.ts; printf \"import type { a } from './cycle-a.ts';\nexport const b = (): number => 1;\nexport type A = typeof a;\n\" > lambdas/core/cycle-b.ts" \
  'npx depcruise --config .dependency-cruiser.json lambdas local infra test bench scripts'
trip 'coverage of lambdas/core (vitest thresholds)' \
  "node -e \"let s='';for(let i=0;i<600;i++)s+='export function uncovered'+i+'(x: number): number {\n  if (x > '+i+') return x * 2;\n  return x - 1;\n}\n';require('fs').writeFileSync('lambdas/core/uncovered.ts',s)\"; printf \"import * as u from './uncovered.ts';\nexport const all = u;\n\" >> lambdas/core/names.ts" \
  'npx vitest run --config vitest.core.config.ts'
trip 'floating promise (type-aware eslint)' \
  "printf '\nexport async function later(): Promise<number> {\n  return 1;\n}\nexport function caller(): void {\n  later();\n}\n' >> lambdas/core/names.ts" \
  'npx eslint lambdas/core/names.ts'
trip 'README longer than 250 lines / a design citation' \
  "for i in \$(seq 1 200); do echo \"line \$i\" >> README.md; done" \
  'npx node scripts/docs-gate.ts'

exit $failures
