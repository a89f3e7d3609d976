#!/bin/sh
# Installs the headless browser the page tests and the screenshot script
# drive: Debian's `chromium` package, at /usr/bin/chromium. playwright-core
# (a devDependency) drives it; nothing downloads a browser build of its own.
#
#   scripts/install-browser.sh        install chromium if it is missing
#
# Idempotent: does nothing when chromium is already there. Exits 0 when
# chromium is there at the end, 1 (with the reason on stderr) when it cannot
# be installed here: not root, or no apt-get.
set -eu

if [ -x /usr/bin/chromium ]; then
  echo "install-browser: /usr/bin/chromium is already installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get on this machine — install Chromium by hand (the tests look for /usr/bin/chromium or chromium on PATH)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-browser: installing Debian's chromium needs root — run: sudo apt-get update && sudo apt-get install -y chromium" >&2
  exit 1
fi

echo "install-browser: installing Debian's chromium with apt-get (once; a minute or two)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium
echo "install-browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
