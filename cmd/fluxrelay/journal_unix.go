//go:build !windows

package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// isJournal says whether w is the journal's stream: $JOURNAL_STREAM names
// its device and inode, and w is a file with the same.
func isJournal(w io.Writer) bool {
	stream := os.Getenv("JOURNAL_STREAM")
	f, ok := w.(*os.File)
	if stream == "" || !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && stream == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
