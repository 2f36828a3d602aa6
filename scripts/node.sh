#!/usr/bin/env bash
# Runs node on the project's Node (Node 24 from setup when the system's is
# older): `bash scripts/node.sh bin/uproll.js dev status`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec node "$@"
