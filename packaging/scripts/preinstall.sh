#!/bin/sh
# Create the fluxrelay system user and group before the files are unpacked.
# Honours DPKG_ROOT (dpkg --root) so the package can be installed into another root.
set -e
root="${DPKG_ROOT:-}"
if ! grep -q '^fluxrelay:' "$root/etc/group" 2>/dev/null; then
  groupadd --system ${root:+--prefix "$root"} fluxrelay
fi
if ! grep -q '^fluxrelay:' "$root/etc/passwd" 2>/dev/null; then
  useradd --system --gid fluxrelay --home-dir /var/lib/fluxrelay --no-create-home \
    --shell /usr/sbin/nologin --comment "fluxrelay payment relay" ${root:+--prefix "$root"} fluxrelay
fi
exit 0
