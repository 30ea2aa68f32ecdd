package main

import (
	"path/filepath"
	"slices"
	"strings"
)

// doctorFilesystem looks at the filesystem that holds dir, as mounts (the
// text of /proc/self/mounts) describes it, for what loses acknowledged
// payments in a power cut or a reboot.
func doctorFilesystem(dir, mounts string) check {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return check{"WARN", "filesystem", "cannot tell which filesystem holds " + dir}
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	var point, fstype string
	var opts []string
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		mp := strings.ReplaceAll(f[1], `\040`, " ")
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(point) {
			point, fstype, opts = mp, f[2], strings.Split(f[3], ",")
		}
	}
	if point == "" {
		return check{"WARN", "filesystem", "cannot tell which filesystem holds " + dir}
	}
	where := dir + " is on " + fstype + " (" + point + ")"
	switch {
	case fstype == "tmpfs" || fstype == "ramfs":
		return check{"FAIL", "filesystem", where + ": memory, lost at every reboot with every payment waiting — point data_dir at the SD card or disk"}
	case slices.Contains([]string{"vfat", "exfat", "msdos", "fat"}, fstype):
		return check{"WARN", "filesystem", where + ": FAT has no journal and is easily damaged by a power cut — use ext4 for data_dir"}
	case slices.Contains(opts, "nobarrier") || slices.Contains(opts, "barrier=0"):
		return check{"WARN", "filesystem", where + ", mounted without write barriers: a power cut can lose what was acknowledged — remove nobarrier/barrier=0 from /etc/fstab"}
	case slices.Contains(opts, "data=writeback"):
		return check{"WARN", "filesystem", where + ", mounted with data=writeback: a power cut can leave damaged files — use the default data=ordered"}
	}
	return check{"OK", "filesystem", where}
}
