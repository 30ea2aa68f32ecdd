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
# Refuse to replace a newer version whose queue is in a store format this version does not
# read (as the .deb's preinst does; keep reads_format equal to it).
reads_format=1
data=$(sed -n 's/^[[:space:]]*data_dir[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' \
  "$root/etc/fluxrelay/fluxrelay.toml" 2>/dev/null | tail -n 1)
format=$(cat "$root${data:-/var/lib/fluxrelay}/store/FORMAT" 2>/dev/null || echo 0)
if [ "$format" -gt "$reads_format" ] 2>/dev/null; then
  echo "fluxrelay: not installed: the queue in ${data:-/var/lib/fluxrelay} was written by a newer fluxrelay (store format $format) and this version reads up to format $reads_format: it would not find the payments waiting there. Keep the newer version installed (see /usr/share/doc/fluxrelay/docs/upgrade.md)." >&2
  exit 1
fi
exit 0
