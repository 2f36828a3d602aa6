#!/usr/bin/env bash
# `npm run demo`: installs what is missing, starts the local stack (it keeps
# running afterwards: `npm run uproll -- dev down` stops it) and runs the demo.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/setup.sh"
source "$here/env.sh" # after setup: it may just have installed Node 24
cd "$UPROLL_ROOT"
node bin/uproll.js dev up
node bin/uproll.js demo "$@"
