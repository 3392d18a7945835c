#!/usr/bin/env bash
# Install promtool into .tools/prometheus from the distribution's `prometheus` package (Debian, Ubuntu), without
# installing or starting a Prometheus service: `apt-get download` fetches the .deb, `dpkg -x` unpacks it.
# Prints the promtool path. `make k8s-check` calls it; PROMTOOL=/path/to/promtool skips it.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=${PROMTOOL_DIR:-.tools/prometheus}
PROMTOOL=$DEST/usr/bin/promtool
fail() { echo "install-promtool: $*" >&2; exit 1; }

if [ -x "$PROMTOOL" ] && "$PROMTOOL" --version >/dev/null 2>&1; then echo "$PROMTOOL"; exit 0; fi
command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 \
  || fail "needs apt-get and dpkg (Debian or Ubuntu) to fetch promtool; elsewhere install Prometheus' promtool and run with PROMTOOL=/path/to/promtool"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
download() { (cd "$work" && apt-get download prometheus) >>"$work/log" 2>&1; }

if ! download; then
  # a fresh machine or CI runner may have no (or stale) package lists: refresh them once, then try again
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
      || fail "apt-get download prometheus failed and 'apt-get update' needs root: run 'sudo apt-get update' and retry ($(tail -n 1 "$work/log"))"
    sudo=(sudo -n)
  fi
  echo "install-promtool: refreshing the package lists (apt-get update)" >&2
  "${sudo[@]}" apt-get update -qq >>"$work/log" 2>&1 || true
  download || fail "apt-get download prometheus failed: $(grep -E '^(E|W):' "$work/log" | tail -n 2 | tr '\n' ' ')"
fi

rm -rf "$DEST"
mkdir -p "$DEST"
dpkg -x "$work"/prometheus_*.deb "$DEST"
rm -f "$DEST/usr/bin/prometheus"  # only promtool is needed; the server binary is most of the package
"$PROMTOOL" --version >/dev/null 2>&1 || fail "$PROMTOOL does not run"
echo "install-promtool: $("$PROMTOOL" --version 2>&1 | head -n 1)" >&2
echo "$PROMTOOL"
