#!/usr/bin/env bash
# Make sure promtool (Debian's 'prometheus' package) is installed, to check deploy/monitoring's
# alerting rules. Installs it when missing and we are root with apt (no recommends; the Prometheus
# service it brings is not started); prints promtool's path.
set -euo pipefail
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ensure-promtool: installing Prometheus' promtool from Debian's packages" >&2
    apt-get update -qq >/dev/null
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.ntjp && chmod +x /usr/sbin/policy-rc.d.ntjp
    [ -e /usr/sbin/policy-rc.d ] || ln -s /usr/sbin/policy-rc.d.ntjp /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || {
      echo "ensure-promtool: could not install the 'prometheus' package" >&2; exit 1; }
    [ "$(readlink /usr/sbin/policy-rc.d 2>/dev/null)" = /usr/sbin/policy-rc.d.ntjp ] && rm -f /usr/sbin/policy-rc.d
    rm -f /usr/sbin/policy-rc.d.ntjp
  else
    echo "ensure-promtool: promtool is not installed; install Debian's 'prometheus' package (as root)" >&2
    exit 1
  fi
fi
command -v promtool
