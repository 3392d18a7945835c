#!/usr/bin/env bash
# Make sure a Chromium is installed for the browser test (tests/api/test_ui_browser_e2e.py drives it with
# playwright through executable_path: playwright's own browser downloads do not work everywhere). Prints its path:
# CHROMIUM if set, else `chromium` (Debian's package; installed with apt-get when missing), else an installed
# `chromium-browser` or `google-chrome` (GitHub's Ubuntu runners have one; Ubuntu's `chromium` package is only a
# snap wrapper). `make pytest` calls it and passes the path on as CHROMIUM.
set -euo pipefail
fail() { echo "install-chromium: $*" >&2; exit 1; }

if [ -n "${CHROMIUM:-}" ]; then
  [ -x "$CHROMIUM" ] || fail "CHROMIUM=$CHROMIUM is not executable"
  echo "$CHROMIUM"; exit 0
fi
for name in chromium chromium-browser google-chrome; do
  if found=$(command -v "$name" 2>/dev/null) && "$found" --version >/dev/null 2>&1; then echo "$found"; exit 0; fi
done
command -v apt-get >/dev/null 2>&1 \
  || fail "needs apt-get (Debian or Ubuntu) to install chromium; elsewhere install Chromium and run with CHROMIUM=/path/to/chromium"

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
    || fail "installing chromium needs root: run 'sudo apt-get install chromium' and retry"
  sudo=(sudo -n)
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
install() { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; }
if ! install; then
  # a fresh machine or CI runner may have no (or stale) package lists: refresh them once, then try again
  echo "install-chromium: refreshing the package lists (apt-get update)" >&2
  "${sudo[@]}" apt-get update -qq >>"$log" 2>&1 || true
  install || fail "apt-get install chromium failed: $(grep -E '^(E|W):' "$log" | tail -n 2 | tr '\n' ' ')"
fi
found=$(command -v chromium) || fail "chromium is not on PATH after installing it"
echo "install-chromium: $("$found" --version 2>/dev/null | head -n 1)" >&2
echo "$found"
