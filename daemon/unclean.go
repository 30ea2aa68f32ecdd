package daemon

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"
)

// A clean stop leaves cleanMarker in data_dir, written after the store is
// closed and synced; Run removes it at start. A store found at start
// without it means the last stop was not clean: a power cut, a kill, a
// crash. A store is found when Badger's MANIFEST is: a store directory made
// ahead of the first start (by a package or a technician) holds nothing to
// lose. Releases before the marker left none, clean stop or not: a store
// they wrote is told by what it held when this release opened it (no
// recorded format and no receive-time index, which came with the marker),
// and its first start under this release is not counted. The count lives
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

// lastStop is what the last stop left in data_dir, read before the store
// is opened (which makes a MANIFEST of its own).
type lastStop struct {
	storeFound, marked bool
}

// readLastStop reads what the last stop left and removes the marker: this
// run's own clean stop writes it again.
func readLastStop(dataDir string) (lastStop, error) {
	_, storeErr := os.Stat(filepath.Join(storeDirOf(dataDir), "MANIFEST"))
	_, markErr := os.Stat(filepath.Join(dataDir, cleanMarker))
	stop := lastStop{storeFound: storeErr == nil, marked: markErr == nil}
	if err := os.Remove(filepath.Join(dataDir, cleanMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return stop, err
	}
	return stop, nil
}

// checkUnclean counts this start when the last stop was not clean: a
// store was found without the marker, and it was written by a release
// that leaves one (markers). It returns the unclean restarts so far, and
// whether this start is one of them.
func checkUnclean(dataDir string, now time.Time, stop lastStop, markers bool) (Unclean, bool, error) {
	var u Unclean
	if b, err := os.ReadFile(filepath.Join(dataDir, uncleanFile)); err == nil {
		_ = json.Unmarshal(b, &u)
	}
	if !stop.storeFound || stop.marked || !markers {
		return u, false, nil
	}
	u.Count++
	u.Last = now.UTC()
	b, _ := json.Marshal(u)
	return u, true, writeSynced(filepath.Join(dataDir, uncleanFile), b)
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
