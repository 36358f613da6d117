#!/usr/bin/env bash
# Installs everything and runs the whole test suite, stopping at the first failure:
# formatting, clippy, Rust tests, interop tests against the official XMTP client (libxmtp), UI
# type check and unit tests, UI flows in headless Chromium, and the end-to-end test of the
# real app window (Xvfb + tauri-driver + WebKitWebDriver, with a real keyring and notification
# server). Ends with a one-line summary. `.ci/run` runs exactly this.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

started=$SECONDS
summary=()
current=""
trap 'rc=$?; if [ $rc -ne 0 ]; then echo; echo "TESTS FAILED at step: ${current:-setup} (exit $rc) after $((SECONDS - started)) s"; fi' EXIT

step() {
  current="$1"
  shift
  printf '\n\033[1m==> %s\033[0m\n' "$current"
  local t0=$SECONDS
  "$@"
  summary+=("$current $((SECONDS - t0))s")
}

step "setup" scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export SQLX_OFFLINE=true
# A test run builds once: incremental compilation's caches would only cost disk (gigabytes).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step "ui build" bash -c 'cd ui && npm run --silent build -- --logLevel warn'
step "cargo fmt" cargo fmt --all --check
step "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
# Notifications have a code path per platform: Windows' compiles here (macOS's needs Apple's SDK).
step "windows check (notifications)" cargo clippy --locked -p coworker-notify --all-targets \
  --target x86_64-pc-windows-msvc -- -D warnings
# Build every binary with the workspace's unified features first, so the tests and the E2E run
# reuse one build instead of compiling shared dependencies twice.
step "cargo build" cargo build --workspace --locked
# Inside a throwaway D-Bus session with an unlocked gnome-keyring: the OS keychain tests are real.
step "rust tests" dbus-run-session -- sh scripts/with-desktop-services.sh \
  cargo nextest run --workspace --locked --no-fail-fast
step "interop (libxmtp)" env RUST_LOG=warn .venv/bin/python -m pytest tests/interop -q -p no:cacheprovider
step "svelte-check" bash -c 'cd ui && npm run --silent check'
step "vitest" bash -c 'cd ui && npm run --silent test'
step "ui flows (Chromium)" bash -c 'cd ui && npm run --silent flows'
# It takes under a minute; the time limit turns a hang into a failure with output.
step "e2e (real app)" timeout --kill-after=30 900 xvfb-run -a -s "-screen 0 1280x800x24" \
  dbus-run-session -- scripts/with-desktop-services.sh node --test --test-concurrency=1 tests/e2e/

current=""
printf '\nALL TESTS PASSED in %ss: %s\n' "$((SECONDS - started))" "$(IFS=,; echo "${summary[*]}" | sed 's/,/, /g')"
