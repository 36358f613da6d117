#!/bin/sh
# Runs CMD with a fresh, unlocked gnome-keyring (Secret Service) and, when a display is set, the
# dunst notification server; all state lives in throwaway directories.
# usage: xvfb-run -a dbus-run-session -- scripts/with-desktop-services.sh CMD...
set -eu
XDG_DATA_HOME="$(mktemp -d)"
XDG_RUNTIME_DIR="$(mktemp -d)"
export XDG_DATA_HOME XDG_RUNTIME_DIR
chmod 700 "$XDG_RUNTIME_DIR"
# A fresh keyrings directory plus a password on stdin creates an unlocked default "login" keyring.
eval "$(printf '%s' coworker-test | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL

DUNST_PID=""
if [ -n "${DISPLAY:-}" ]; then
  # Its action menu is scripted (tests/e2e/dunstrc): `dunstctl action 0` picks $DUNST_PICK.
  dunst -config "$(dirname "$0")/../tests/e2e/dunstrc" >"$XDG_RUNTIME_DIR/dunst.log" 2>&1 &
  DUNST_PID=$!
fi

set +e
"$@"
rc=$?
[ -n "$DUNST_PID" ] && kill "$DUNST_PID" 2>/dev/null
rm -rf "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"
exit "$rc"
