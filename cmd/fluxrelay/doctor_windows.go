package main

import (
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// whoMay names the accounts dir's access list lets in.
func whoMay(dir string, _ fs.FileInfo) string {
	who, err := access(dir)
	if err != nil {
		return "access list unreadable: " + err.Error()
	}
	return "access: " + who
}

func hintOwnDataDir(string) string {
	return "run fluxrelay service install from an elevated prompt, which gives the folder to the service and Administrators"
}

// readMounts: Windows has no mount table; filesystemCheck asks the volume.
func readMounts() string { return "" }

// filesystemCheck asks the volume that holds dir for its filesystem: FAT
// and exFAT (USB sticks, memory cards) have no journal.
func filesystemCheck(dir, _ string) (check, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return check{"WARN", "filesystem", "cannot tell which filesystem holds " + dir}, true
	}
	var vol, name [windows.MAX_PATH + 1]uint16
	p, err := windows.UTF16PtrFromString(abs)
	if err == nil {
		err = windows.GetVolumePathName(p, &vol[0], uint32(len(vol)))
	}
	if err == nil {
		err = windows.GetVolumeInformation(&vol[0], nil, 0, nil, nil, nil, &name[0], uint32(len(name)))
	}
	if err != nil {
		return check{"WARN", "filesystem", "cannot tell which filesystem holds " + dir + ": " + err.Error()}, true
	}
	fsName := windows.UTF16ToString(name[:])
	where := dir + " is on " + fsName + " (" + windows.UTF16ToString(vol[:]) + ")"
	switch strings.ToUpper(fsName) {
	case "FAT", "FAT32", "EXFAT":
		return check{"WARN", "filesystem", where + ": FAT has no journal and is easily damaged by a power cut — put data_dir on an NTFS drive"}, true
	}
	return check{"OK", "filesystem", where}, true
}
