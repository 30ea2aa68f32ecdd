#!/bin/sh
# Removing the package keeps the queue and the config; purging (deb) drops them.
# Pending notifications in /var/lib/fluxrelay are not delivered after a purge.
set -e
root="${DPKG_ROOT:-}"
if [ "$1" = purge ]; then
  rm -rf "$root/var/lib/fluxrelay" "$root/etc/fluxrelay"
  userdel ${root:+--prefix "$root"} fluxrelay 2>/dev/null || true
  groupdel ${root:+--prefix "$root"} fluxrelay 2>/dev/null || true
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
exit 0
