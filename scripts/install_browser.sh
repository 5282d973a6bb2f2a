#!/bin/sh
# Headless Chromium and its driver for the browser test (tests/test_serve_browser.py), from the Debian
# packages. Installs only when /usr/bin/chromium is missing and we are root with apt-get; never fails the
# build: without a browser that test skips with its reason.
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: not root or no apt-get; the browser test will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
    || echo "install_browser: apt-get could not install chromium; the browser test will skip" >&2
exit 0
