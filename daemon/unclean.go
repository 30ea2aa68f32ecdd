package daemon

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/fluxrelay/fluxrelay/store"
)

// A clean stop leaves cleanMarker in data_dir, written after the store is
// closed and synced; Run removes it at start. A store found at start
// without it means the last stop was not clean: a power cut, a kill, a
// crash. A store is found when Badger's MANIFEST is: a store directory made
// ahead of the first start (by a package or a technician) holds nothing to
// lose. A store that does not record its format (store.Versioned) was
// written by a release from before the marker, whose clean stops left
// none: its first start under this release is not counted. The count lives
// in uncleanFile.
const (
	cleanMarker = "clean-stop"
	uncleanFile = "unclean-restarts.json"
)

// Unclean is the record of unclean restarts.
type Unclean struct {
	Count int       `json:"count"`
	Last  time.Time `json:"last"`
}

// checkUnclean reads what the last stop left and starts this run's
// record: it returns the unclean restarts so far, and whether this start
// is one of them.
func checkUnclean(dataDir string, now time.Time) (Unclean, bool, error) {
	var u Unclean
	if b, err := os.ReadFile(filepath.Join(dataDir, uncleanFile)); err == nil {
		_ = json.Unmarshal(b, &u)
	}
	_, storeErr := os.Stat(filepath.Join(storeDirOf(dataDir), "MANIFEST"))
	_, markErr := os.Stat(filepath.Join(dataDir, cleanMarker))
	unclean := storeErr == nil && errors.Is(markErr, os.ErrNotExist) && store.Versioned(storeDirOf(dataDir))
	if unclean {
		u.Count++
		u.Last = now.UTC()
		b, _ := json.Marshal(u)
		if err := writeSynced(filepath.Join(dataDir, uncleanFile), b); err != nil {
			return u, true, err
		}
	}
	if err := os.Remove(filepath.Join(dataDir, cleanMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return u, unclean, err
	}
	return u, unclean, nil
}

// markClean records a clean stop.
func markClean(dataDir string) error {
	return writeSynced(filepath.Join(dataDir, cleanMarker), []byte("stopped cleanly\n"))
}

func writeSynced(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
