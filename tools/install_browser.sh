#!/usr/bin/env bash
# Debian's Chromium for tests/test_browser.py, which drives it with Playwright. Playwright's own browser download
# (`playwright install`) is never used: it fetches a browser build from outside the package registries.
# Does nothing when /usr/bin/chromium is there; otherwise installs Debian's `chromium` package with apt-get (as root,
# or through sudo). .ci/run calls it before tools/test.sh.
set -euo pipefail
CHROMIUM=${FUSION_NB_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then echo "install_browser: $CHROMIUM is there"; exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: no apt-get here; install Chromium by hand (outside CI, tests/test_browser.py skips without it)" >&2
  exit 1
fi
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
for try in 1 2 3; do
  if $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium; then break; fi
  [ "$try" = 3 ] && { echo "install_browser: apt-get could not install chromium" >&2; exit 1; }
  sleep 10
done
[ -x "$CHROMIUM" ] || { echo "install_browser: chromium installed but $CHROMIUM is missing" >&2; exit 1; }
echo "install_browser: installed $("$CHROMIUM" --version 2>/dev/null)"
