#!/usr/bin/env bash
# `npm test`: installs what is missing, then lint, format check, typecheck and
# the whole vitest suite (unit + integration against a real Temporal dev server
# and nats-server that the suite starts on free ports).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$UPROLL_ROOT/scripts/setup.sh"
cd "$UPROLL_ROOT"
echo "== lint" && node_modules/.bin/eslint .
echo "== format" && node_modules/.bin/prettier --check --log-level warn .
echo "== typecheck" && node_modules/.bin/tsc --noEmit
echo "== tests" && node_modules/.bin/vitest run "$@"
