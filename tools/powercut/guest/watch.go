package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// watchFiles reports every file created in dir from now on, the moments
// when a missing directory sync would show ("FILE name"), and every
// value-log file deleted, which only a value-log collection does ("GONE
// name").
func watchFiles(dir string, on func(what, name string)) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("inotify: %v", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_DELETE); err != nil {
		return fmt.Errorf("inotify: %v", err)
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fd, buf)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil {
				say("ERROR inotify: %v", err)
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				mask := binary.NativeEndian.Uint32(buf[off+4:])       // struct inotify_event's mask
				size := int(binary.NativeEndian.Uint32(buf[off+12:])) // and len
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+size]), "\x00")
				off += unix.SizeofInotifyEvent + size
				switch ext := filepath.Ext(name); {
				case mask&unix.IN_DELETE != 0 && ext == ".vlog":
					say("GONE %s", name)
					on("GONE", name)
				case mask&unix.IN_DELETE != 0:
				case ext == ".mem" || ext == ".sst" || ext == ".vlog":
					say("FILE %s", name)
					on("FILE", name)
				}
			}
		}
	}()
	return nil
}
