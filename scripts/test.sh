#!/usr/bin/env bash
# `npm test`: installs what is missing, then lint, format check, typecheck and
# the whole vitest suite (unit + integration against a real Temporal dev server
# and nats-server that the suite starts on free ports).
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/setup.sh"
source "$here/env.sh" # after setup: it may just have installed Node 24
cd "$UPROLL_ROOT"
echo "== lint" && node_modules/.bin/eslint .
echo "== format" && node_modules/.bin/prettier --check --log-level warn .
echo "== typecheck" && node_modules/.bin/tsc --noEmit
echo "== tests" && node_modules/.bin/vitest run "$@"
