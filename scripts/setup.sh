#!/usr/bin/env bash
# Installs everything CoWorker needs to build, run and test it on Debian 12: system packages, Rust,
# Node.js, the UI's npm packages, tauri-driver, cargo-nextest and the Python venv for interop
# tests. Idempotent: when everything is present it only checks and returns in a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root for '$*': run as root or install sudo"
  fi
}

APT_PACKAGES=(
  # build
  build-essential pkg-config file curl ca-certificates git
  libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
  # headless window, WebDriver, desktop services for tests
  xvfb xauth x11-utils webkit2gtk-driver dbus dbus-x11 at-spi2-core fonts-dejavu-core
  fonts-wqy-microhei  # the Chinese UI in screenshots
  imagemagick  # screenshots of the app's window (import)
  # the fake webcam of the E2E test (tests/e2e/fakecam): built against GStreamer, and the
  # elements that show its picture
  libgstreamer1.0-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  chromium  # UI flows in headless Chromium (ui/flows)
  gnome-keyring libsecret-tools dunst libnotify-bin
  # installing the built packages: reading the .rpm, the desktop entry and link handler
  rpm desktop-file-utils xdg-utils libglib2.0-bin
  # interop tests
  python3 python3-venv
)

install_apt_packages() {
  local missing=()
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != "installed" ]; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "apt: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

install_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    say "rust: installing the stable toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --component rustfmt,clippy
    . "$HOME/.cargo/env"
  fi
  if command -v rustup >/dev/null 2>&1; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
    # The notifications' Windows code path is compile-checked by the tests (scripts/test.sh).
    rustup target list --installed | grep -qx x86_64-pc-windows-msvc ||
      rustup target add x86_64-pc-windows-msvc >/dev/null
  fi
}

# Node.js >= 20.19 (Vite 8); Debian 12 ships 18, so fall back to NodeSource's Node 20 packages.
install_node() {
  local version=""
  command -v node >/dev/null 2>&1 && version="$(node -p 'process.versions.node')"
  if [ -n "$version" ] && node -e '
      const [a, b] = process.versions.node.split(".").map(Number);
      process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    return
  fi
  say "node: installing Node.js 20 (found '${version:-none}')"
  curl -fsSL https://deb.nodesource.com/setup_20.x | as_root bash - >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null
}

# `npm ci` in DIR only when its package-lock.json changed since the last install.
install_npm_packages() {
  local dir="$1" what="$2"
  local stamp="$dir/node_modules/.coworker-lock.sha256"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  say "npm: installing $what"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

install_cargo_tools() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v tauri-driver >/dev/null 2>&1; then
    say "cargo: installing tauri-driver"
    cargo install tauri-driver@2.1.0 --locked
  fi
  if ! cargo nextest --version >/dev/null 2>&1; then
    say "cargo: installing cargo-nextest"
    cargo install cargo-nextest --locked
  fi
}

# The venv for interop tests against the official XMTP client (tests/interop/requirements.txt).
install_python_venv() {
  local stamp=".venv/.coworker-requirements.sha256"
  local want
  want="$(sha256sum tests/interop/requirements.txt | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  say "python: preparing .venv for interop tests"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
  echo "$want" >"$stamp"
}

install_apt_packages
install_rust
install_node
install_npm_packages ui "the UI's packages"
# The MCP conformance suite (and the Node 22 it needs, from the npm registry).
install_npm_packages tests/mcp-conformance "the MCP conformance suite"
install_cargo_tools
install_python_venv
