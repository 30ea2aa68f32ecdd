package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/fluxrelay/fluxrelay/config"
)

// protectedDACL gives full control to LocalSystem (the account the service
// runs as) and Administrators, and to nobody else; protected, so nothing
// is inherited from %ProgramData% (whose Users may read), and inherited by
// everything created inside.
const protectedDACL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// homeDir is %ProgramData%\fluxrelay: the config, the data and the debug
// log, readable by the service and Administrators only.
func homeDir() string { return filepath.Dir(config.DefaultPath()) }

// prepareHome creates %ProgramData%\fluxrelay and its data folder, guards
// them with protectedDACL, and puts the config in place when it is
// missing: the example beside fluxrelay.exe, with a fresh admin.token
// (the commands reach the daemon on admin.listen with it). An existing
// config is never changed.
func prepareHome(cfgPath, exe string, out io.Writer) error {
	home := homeDir()
	for _, dir := range []string{home, filepath.Join(home, "data")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	if err := protect(home); err != nil {
		return fmt.Errorf("restricting %s to SYSTEM and Administrators: %w", home, err)
	}
	if _, err := os.Stat(cfgPath); err == nil {
		fmt.Fprintf(out, "config:  %s (kept as it is)\n", cfgPath)
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	example := filepath.Join(filepath.Dir(exe), "fluxrelay.example.toml")
	doc, err := os.ReadFile(example)
	if err != nil {
		return usageError(fmt.Sprintf("there is no config at %s and no example beside fluxrelay.exe to start from (%v): put fluxrelay.example.toml from the release next to fluxrelay.exe, or write the config, then install again", cfgPath, err))
	}
	doc, tokened := withAdminToken(doc)
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(cfgPath, doc, 0o600); err != nil {
		return err
	}
	if filepath.Dir(cfgPath) != home {
		if err := protect(cfgPath); err != nil {
			return fmt.Errorf("restricting %s to SYSTEM and Administrators: %w", cfgPath, err)
		}
	}
	fmt.Fprintf(out, "config:  %s (the example: fill in [core] and the sources, then fluxrelay check-config)\n", cfgPath)
	if !tokened {
		fmt.Fprintln(out, "         set admin.token in it: the commands need it to reach fluxrelay on Windows")
	}
	return nil
}

// protect replaces path's access list with protectedDACL; the folders and
// files inside take it on.
func protect(path string) error {
	sd, err := windows.SecurityDescriptorFromString(protectedDACL)
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

// access names who may use path, as its access list says: "NT
// AUTHORITY\SYSTEM, BUILTIN\Administrators".
func access(path string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", err
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return "everyone (no access list)", err
	}
	var names []byte
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return "", err
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		name := sid.String()
		if acct, dom, _, err := sid.LookupAccount(""); err == nil {
			name = acct
			if dom != "" {
				name = dom + `\` + acct
			}
		}
		if !bytes.Contains(names, []byte(name)) {
			if len(names) > 0 {
				names = append(names, ", "...)
			}
			names = append(names, name...)
		}
	}
	return string(names), nil
}
