#!/usr/bin/env bash
# Desktop app benchmark, release build under Xvfb:
# - cold start to interactive, on a first run (onboarding) and for a returning user (an identity
#   made beforehand by the seed_identity example): process start → both the UI's first render has
#   called `ui_ready` and the backend has finished starting (node, keychain, agent). When this
#   user may write /proc/sys/vm/drop_caches (root), the page cache is dropped before each start.
# - idle memory: RSS and PSS of the app and its WebKit processes after 10 s idle.
# - the .deb size.
# usage: scripts/bench-app.sh [RUNS]   (after scripts/package.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
APP="$TARGET/release/coworker-app"
SEED="$TARGET/debug/examples/seed_identity"
RUNS="${1:-5}"
[ -x "$APP" ] || { echo "bench-app: build it first (scripts/package.sh)" >&2; exit 1; }

if [ -z "${BENCH_INNER:-}" ]; then
  (cd "$ROOT" && SQLX_OFFLINE=true cargo build --quiet --locked -p coworker-app --example seed_identity)
  exec env BENCH_INNER=1 xvfb-run -a -s "-screen 0 1280x800x24" \
    dbus-run-session -- sh "$ROOT/scripts/with-desktop-services.sh" "$0" "$@"
fi

cold=""
if [ -w /proc/sys/vm/drop_caches ]; then cold=1; echo "page cache dropped before each start"; fi

tree() { # the app and every process below it
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { for (p in parent) { q = p; while (q != "" && q != 0) { if (q == root) { print p; break } q = parent[q] } } }'
}
# memory_kb FIELD PID: FIELD (Rss or Pss) summed over the app's process tree. RSS counts the
# libraries the app and its WebKit processes share once per process; PSS splits them.
memory_kb() {
  local pid total=0 kb
  for pid in $(tree "$2"); do
    kb="$(awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || true)"
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

# measure LABEL DATA_DIR: starts the app on DATA_DIR, prints its start-up and idle memory.
measure() {
  local label="$1" data="$2" log pid ui backend rss pss own
  log="$data/app.log"
  if [ -n "$cold" ]; then sync; echo 3 >/proc/sys/vm/drop_caches; fi
  COWORKER_DATA_DIR="$data" COWORKER_NODE_LISTEN=127.0.0.1:0 RUST_LOG=info "$APP" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    grep -q "interactive" "$log" && grep -q "backend start-up finished" "$log" && break
    sleep 0.02
  done
  ui="$(sed "s/\x1b\[[0-9;]*m//g" "$log" | grep -o "startup_ms=[0-9.]*" | head -1 | cut -d= -f2)"
  backend="$(sed "s/\x1b\[[0-9;]*m//g" "$log" | grep -o "process_ms=[0-9.]*" | head -1 | cut -d= -f2)"
  sleep 10
  rss="$(memory_kb Rss "$pid")"
  pss="$(memory_kb Pss "$pid")"
  own="$(awk '$1 == "Rss:" { print $2 }' "/proc/$pid/smaps_rollup")"
  printf '%-10s interactive after %4.0f ms (UI rendered %4.0f ms, backend ready %4.0f ms); idle RSS %d MB, PSS %d MB (app process RSS %d MB; %d processes)\n' \
    "$label" "$(echo "${ui:-0} ${backend:-0}" | awk '{ print ($1 > $2) ? $1 : $2 }')" \
    "${ui:-0}" "${backend:-0}" "$((rss / 1024))" "$((pss / 1024))" "$((own / 1024))" \
    "$(tree "$pid" | wc -l)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for run in $(seq "$RUNS"); do
  fresh="$(mktemp -d)"
  measure "first run" "$fresh"
  rm -rf "$fresh"
  returning="$(mktemp -d)"
  "$SEED" "$returning" >/dev/null
  measure "returning" "$returning"
  rm -rf "$returning"
done
for deb in "$TARGET"/release/bundle/deb/*.deb; do
  [ -e "$deb" ] && stat -c "%n: %s bytes" "$deb" | awk '{ printf "%s %s bytes (%.1f MB)\n", $1, $2, $2 / 1048576 }'
done
