#!/usr/bin/env bash
# Installs Debian's Chromium for the real-browser test (tests/test_browser.py).
# Never `playwright install`: it downloads a browser build, which fails offline.
# Without root or apt-get the browser test skips with a message instead.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-browser: no root/apt-get; the real-browser test will be skipped" >&2
  exit 0
fi
echo "install-browser: installing Debian's chromium (~1 min)" >&2
apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
  || echo "install-browser: apt-get failed; the real-browser test will be skipped" >&2
exit 0
