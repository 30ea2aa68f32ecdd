// Package systemd holds fluxrelay's hand-written, hardened systemd unit:
// the packages install fluxrelay.service as it is, and `fluxrelay service
// install` writes it for tarball installs (kardianos/service's own unit
// hard-codes RestartSec=120).
package systemd

import (
	_ "embed"
	"strings"
)

//go:embed fluxrelay.service
var unit string

// Unit is the unit the packages ship.
func Unit() string { return unit }

// ServiceTemplate is the unit for kardianos/service's SystemdScript option:
// the binary's path and the config file as given at install time.
func ServiceTemplate(configPath string) string {
	return strings.Replace(strings.Replace(unit, "/usr/bin/fluxrelay run -c /etc/fluxrelay/fluxrelay.toml",
		"{{Path}} run -c "+configPath, 1), "Documentation=file:///usr/share/doc/fluxrelay/README.md\n", "", 1)
}
