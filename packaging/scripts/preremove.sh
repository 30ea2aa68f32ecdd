#!/bin/sh
# Stop and disable the service when the package is removed (not on upgrade).
# deb: $1 = remove | upgrade | deconfigure; rpm: $1 = 0 (erase) or 1 (upgrade).
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ] && { [ "$1" = remove ] || [ "$1" = 0 ]; }; then
  systemctl disable --now fluxrelay.service || true
fi
exit 0
