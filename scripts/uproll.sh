#!/usr/bin/env bash
# Runs the `uproll` CLI on the project's Node (`npm run uproll -- dev status`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec node "$UPROLL_ROOT/bin/uproll.js" "$@"
