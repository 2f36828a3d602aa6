# Sourced by the project's scripts: puts the project's Node (when setup
# installed one) and the Temporal CLI first on PATH. Prints nothing.
UPROLL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UPROLL_TOOLS="$UPROLL_ROOT/.uproll/tools"
export UPROLL_ROOT
if [ -x "$UPROLL_TOOLS/node/bin/node" ]; then
  PATH="$UPROLL_TOOLS/node/bin:$PATH"
fi
# pip installs the Temporal CLI into Python's scripts directory, which a
# pyenv shim or a fresh shell may not have on PATH.
if command -v python3 >/dev/null 2>&1; then
  py_scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
  [ -n "$py_scripts" ] && PATH="$PATH:$py_scripts"
fi
PATH="$PATH:/usr/sbin"
export PATH
