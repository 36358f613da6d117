#!/usr/bin/env bash
# Builds the release app and packages it as .deb and .rpm (target/release/bundle/{deb,rpm}),
# then prints the packages' sizes. .AppImage, .dmg and .msi are built by
# .github/workflows/release.yml on their platforms.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export SQLX_OFFLINE=true

(cd ui && npm run --silent build -- --logLevel warn)
cargo build --release --locked -p coworker-app
# The Tauri CLI wants its configuration next to the app crate: src-tauri/tauri.conf.json is a
# link to the root one, and packaging/bundle.json adds what only packages need (icon paths from
# there, the .desktop file with the coworker:// handler, the tray's library).
TAURI_APP_PATH=src-tauri ui/node_modules/.bin/tauri bundle --bundles deb,rpm \
  --config packaging/bundle.json "$@"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
ls -l "$TARGET"/release/bundle/deb/*.deb "$TARGET"/release/bundle/rpm/*.rpm
