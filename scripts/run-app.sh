#!/usr/bin/env bash
# Installs everything, builds the desktop app (release) and opens it. Extra arguments go to the
# app. The app's first run uses the embedded local network, so it works offline.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export SQLX_OFFLINE=true

(cd ui && npm run --silent build -- --logLevel warn)
cargo build --release --locked -p coworker-app

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run-app: no display (DISPLAY/WAYLAND_DISPLAY unset); for a headless host use" >&2
  echo "         xvfb-run -a scripts/run-app.sh   (see README: Headless use)" >&2
  exit 1
fi
exec "${CARGO_TARGET_DIR:-$ROOT/target}/release/coworker-app" "$@"
