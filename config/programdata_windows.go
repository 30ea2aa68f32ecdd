package config

import (
	"os"

	"golang.org/x/sys/windows"
)

// programData is the machine's ProgramData folder, as the shell knows it:
// the same for every account and for the service, whatever the
// environment says (wine gives services another %ProgramData%).
func programData() string {
	if p, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0); err == nil && p != "" {
		return p
	}
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}
