#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is installed, for the status page test.
# Installs the 'chromium' package when it is missing and we are root with apt; prints its path.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ensure-chromium: installing Chromium from Debian's packages" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "ensure-chromium: chromium is not installed; install Debian's 'chromium' package (as root)" >&2
    exit 1
  fi
fi
command -v chromium
