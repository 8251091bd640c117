#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver, for the test that opens the Snakemake report (tests/test_report.py).
# Installs only what is missing; needs root (apt-get). Prints the paths of both programs.
set -euo pipefail
PACKAGES=(chromium chromium-driver)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "install-browser: installing ${missing[*]} needs root (apt-get)" >&2; exit 1; }
    log="${TMPDIR:-/tmp}/lfl-browser-apt.log"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1 || {
        apt-get update >>"$log" 2>&1 || true
        apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
            || { echo "install-browser: apt-get install ${missing[*]} failed (log: $log)" >&2; exit 1; }
    }
fi
command -v chromium
command -v chromedriver
