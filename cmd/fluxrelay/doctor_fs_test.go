package main

import (
	"runtime"
	"strings"
	"testing"
)

func TestDoctorFilesystem(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("skipped on Windows: these are Linux mount tables and paths (doctor asks a Windows volume for its filesystem instead)")
	}
	mounts := `/dev/root / ext4 rw,relatime 0 0
/dev/mmcblk0p1 /boot vfat rw,relatime,fmask=0022 0 0
tmpfs /run tmpfs rw,nosuid 0 0
/dev/sda1 /srv ext4 rw,nobarrier 0 0
/dev/sda2 /srv/wb ext4 rw,data=writeback 0 0
/dev/sdb1 /mnt/usb\040stick exfat rw 0 0`
	for dir, want := range map[string]string{
		"/var/lib/fluxrelay":       "OK filesystem /var/lib/fluxrelay is on ext4 (/)",
		"/boot/fluxrelay":          "WARN filesystem /boot/fluxrelay is on vfat (/boot): FAT has no journal",
		"/run/fluxrelay":           "FAIL filesystem /run/fluxrelay is on tmpfs (/run): memory",
		"/srv/fluxrelay":           "WARN filesystem /srv/fluxrelay is on ext4 (/srv), mounted without write barriers",
		"/srv/wb/fluxrelay":        "WARN filesystem /srv/wb/fluxrelay is on ext4 (/srv/wb), mounted with data=writeback",
		"/mnt/usb stick/fluxrelay": "WARN filesystem /mnt/usb stick/fluxrelay is on exfat",
	} {
		c := doctorFilesystem(dir, mounts)
		if got := c.level + " " + c.name + " " + c.msg; !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q; want it to start %q", dir, got, want)
		}
	}
}
