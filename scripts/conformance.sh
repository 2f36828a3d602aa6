#!/usr/bin/env bash
# `npm run conformance -- --suite DIR [pytest args]`: runs the upstream TUF
# conformance suite (a checkout of github.com/theupdateframework/tuf-conformance
# at DIR) against `uproll-tuf`. The suite's Python dependencies come from PyPI
# into .uproll/conformance-venv, made on first use and again when the suite's
# pyproject.toml changes. Prints pytest's summary; exits non-zero when any test
# fails. There is no .xfails file: every test must pass. Needs `faketime`
# (the suite runs some refreshes at a shifted clock).
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/env.sh"

usage() { echo "usage: npm run conformance -- --suite DIR [pytest args]" >&2; exit 2; }
suite=""
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) [ $# -ge 2 ] || usage; suite="$2"; shift 2 ;;
    --suite=*) suite="${1#--suite=}"; shift ;;
    *) pytest_args+=("$1"); shift ;;
  esac
done
[ -n "$suite" ] || usage
suite="$(cd "$suite" && pwd)"
[ -f "$suite/pyproject.toml" ] && [ -d "$suite/tuf_conformance" ] ||
  { echo "$suite is not a tuf-conformance checkout (no pyproject.toml and tuf_conformance/)" >&2; exit 2; }
command -v faketime >/dev/null || { echo "the suite needs faketime (apt-get install faketime)" >&2; exit 2; }

venv="$UPROLL_ROOT/.uproll/conformance-venv"
stamp="$venv/suite-pyproject.sha256"
wanted="$(sha256sum "$suite/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/pytest" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "== making $venv with the suite's dependencies"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # Not editable: the suite's own code is run from DIR, only its pinned dependencies are needed here.
  "$venv/bin/python" -m pip install --quiet "$suite"
  echo "$wanted" >"$stamp"
fi

# The suite must not find an expected-failures file next to the entrypoint.
entrypoint="$UPROLL_ROOT/bin/uproll-tuf.js"
[ ! -e "$entrypoint.xfails" ] || { echo "$entrypoint.xfails exists: no test may be expected to fail" >&2; exit 1; }

version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$suite/tuf_conformance/__init__.py")"
commit="$(git -C "$suite" rev-parse HEAD 2>/dev/null || echo 'not a git checkout')"
echo "== tuf-conformance $version ($commit) against uproll-tuf"
cd "$suite"
exec "$venv/bin/pytest" tuf_conformance --entrypoint "$entrypoint" -q -p no:cacheprovider "${pytest_args[@]}"
