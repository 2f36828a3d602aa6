#!/usr/bin/env bash
# `npm run demo`: installs what is missing, starts the local stack (it keeps
# running afterwards: `npm run uproll -- dev down` stops it) and runs the demo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash "$UPROLL_ROOT/scripts/setup.sh"
cd "$UPROLL_ROOT"
node bin/uproll.js dev up
node bin/uproll.js demo "$@"
