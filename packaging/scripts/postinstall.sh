#!/bin/sh
# Give the data folder and the config their owners, then enable and (re)start the service.
# deb: $1 = configure; rpm: $1 = 1 (install) or 2 (upgrade).
set -e
root="${DPKG_ROOT:-}"
uid=$(awk -F: '$1 == "fluxrelay" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "fluxrelay" { print $3 }' "$root/etc/group")
mkdir -p "$root/var/lib/fluxrelay"
chown "$uid:$gid" "$root/var/lib/fluxrelay"
chmod 0700 "$root/var/lib/fluxrelay"
chown "0:$gid" "$root/etc/fluxrelay/fluxrelay.toml"
chmod 0640 "$root/etc/fluxrelay/fluxrelay.toml"
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable fluxrelay.service
  if systemctl is-active --quiet fluxrelay.service; then
    systemctl restart fluxrelay.service    # an upgrade: run the new binary
  else
    systemctl start fluxrelay.service || echo "fluxrelay did not start: see journalctl -u fluxrelay" >&2
  fi
  echo "fluxrelay is installed. Configure /etc/fluxrelay/fluxrelay.toml, check it with: sudo fluxrelay check-config, then: sudo systemctl reload fluxrelay"
fi
exit 0
