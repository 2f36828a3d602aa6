#!/usr/bin/env bash
# `npm test`: installs what is missing, then lint, format check, typecheck and
# the whole vitest suite (unit + integration against a real Temporal dev server
# and nats-server that the suite starts on free ports); then, when run without
# arguments, the unit and security tests again with the clock 400 days ahead
# (faketime), so that no fixture works only near the day it was written.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/setup.sh"
source "$here/env.sh" # after setup: it may just have installed Node 24
cd "$UPROLL_ROOT"
echo "== lint" && node_modules/.bin/eslint .
echo "== layers" && node_modules/.bin/depcruise --config .dependency-cruiser.mjs .
echo "== format" && node_modules/.bin/prettier --check --log-level warn .
echo "== typecheck" && node_modules/.bin/tsc --noEmit && node_modules/.bin/tsc -p dashboard --noEmit
echo "== tests" && node_modules/.bin/vitest run "$@"
if [ $# -eq 0 ]; then
  echo "== tests with the clock 400 days ahead (unit, security)"
  # A shift that did not take would prove nothing: check it first.
  days=$(faketime -f '+400d' node -e 'console.log(Math.round((Date.now() - process.argv[1]) / 864e5))' "$(node -p 'Date.now()')")
  [ "$days" -ge 399 ] || { echo "faketime moved the clock $days days, not 400" >&2; exit 1; }
  faketime -f '+400d' node_modules/.bin/vitest run --project unit --project security
fi
