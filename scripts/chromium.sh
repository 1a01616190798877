#!/usr/bin/env bash
# Makes sure a system Chromium is installed for the browser tests (test/browser: report.html in headless
# Chromium via puppeteer-core, which never downloads a browser of its own). Debian: apt-get install chromium.
set -euo pipefail
for b in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
  if [ -n "$b" ] && [ -x "$b" ]; then exit 0; fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: no Chromium and no apt-get: install Chromium and set CHROMIUM=/path/to/it" >&2
  exit 1
fi
sudo_=""
if [ "$(id -u)" != 0 ]; then sudo_="sudo"; fi
echo "chromium.sh: installing Debian's chromium (for the browser tests)" >&2
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium >/dev/null
