#!/usr/bin/env bash
# Desktop app benchmark: cold start to interactive (process start → the UI's first render has
# called `ui_ready`), idle memory (RSS of the app and its WebKit processes after 10 s idle) and
# the .deb size. Runs the release build under Xvfb with a fresh data directory each time.
# usage: scripts/bench-app.sh [RUNS]   (after scripts/package.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
APP="$TARGET/release/coworker-app"
RUNS="${1:-5}"
[ -x "$APP" ] || { echo "bench-app: build it first (scripts/package.sh)" >&2; exit 1; }

if [ -z "${BENCH_INNER:-}" ]; then
  exec env BENCH_INNER=1 xvfb-run -a -s "-screen 0 1280x800x24" \
    dbus-run-session -- sh "$ROOT/scripts/with-desktop-services.sh" "$0" "$@"
fi

rss_kb() { # the app and every process below it
  local pids
  pids="$(ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { for (p in parent) { q = p; while (q != "" && q != 0) { if (q == root) { print p; break } q = parent[q] } } }')"
  # shellcheck disable=SC2086
  ps -o rss= -p $(echo $pids | tr ' ' ',') | awk '{ s += $1 } END { print s }'
}

for run in $(seq "$RUNS"); do
  data="$(mktemp -d)"
  log="$data/app.log"
  COWORKER_DATA_DIR="$data" COWORKER_NODE_LISTEN=127.0.0.1:0 RUST_LOG=info "$APP" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    grep -q "interactive" "$log" && break
    sleep 0.05
  done
  startup="$(sed "s/\x1b\[[0-9;]*m//g" "$log" | grep -o "startup_ms=[0-9.]*" | head -1 | cut -d= -f2)"
  sleep 10
  total="$(rss_kb "$pid")"
  own="$(ps -o rss= -p "$pid" | tr -d ' ')"
  printf 'run %s: interactive after %.0f ms; idle RSS %d MB (app process %d MB)\n' \
    "$run" "$startup" "$((total / 1024))" "$((own / 1024))"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data"
done
for deb in "$TARGET"/release/bundle/deb/*.deb; do
  [ -e "$deb" ] && stat -c "%n: %s bytes" "$deb" | awk '{ printf "%s %s bytes (%.1f MB)\n", $1, $2, $2 / 1048576 }'
done
