package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fluxrelay/fluxrelay/notification"
)

// Badger keeps a value of its value threshold or more in its value log and
// writes the pointer to it in the memtable's log; with SyncWrites it syncs
// the value log in between, but a sync of our own cannot keep the kernel
// from writing the memtable log's page back first, and a power cut then
// leaves a pointer to nothing: the store is called damaged. So nothing new
// goes to the value log: a record whose compressed form is blobMin or more
// keeps its raw body, payload and headers in a blob, a file of its own in
// the store's blobs directory, written and synced (the file, then the
// directory) before the commit that refers to it. The record in Badger is
// then small (its delivery state, rewritten at every attempt) and lives in
// the LSM tree, and Badger's value threshold is raised past any record's
// size, so that value-log collection moves what older releases left in the
// value log into the LSM tree too (docs/durability.md).
//
// A blob is the record as it arrived, in the compressed form, sealed with
// AES-GCM under the store's key when store.encryption_key_file is set. It
// is deleted once the commit that deletes its record is synced; a blob no
// record refers to (its record expired, or a crash came between the blob
// and its commit) is swept away.

// blobMin is the size of a compressed record from which it keeps its
// body, payload and headers in a blob: the value threshold of releases
// that kept such records in the value log.
const blobMin = 64 << 10

// blobMagic starts every blob; the byte after it says whether it is sealed.
var blobMagic = []byte("fxb1")

const (
	blobPlain  = 0
	blobSealed = 1
)

// blobStore keeps the blobs of one store.
type blobStore struct {
	dir   string
	aead  cipher.AEAD // nil without an encryption key
	fault func(path string) error

	mu       sync.Mutex
	made     bool            // the directory exists and is synced
	inflight map[string]bool // written or being written, their commit not yet done
}

func newBlobStore(storeDir string, key []byte, fault func(string) error) (*blobStore, error) {
	b := &blobStore{dir: filepath.Join(storeDir, "blobs"), fault: fault, inflight: map[string]bool{}}
	if len(key) > 0 {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("store encryption key: %w", err)
		}
		if b.aead, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// newName returns a fresh blob name for record id, and holds it in
// flight: the sweep leaves it alone until done is called.
func (b *blobStore) newName(id string) string {
	var n [8]byte
	rand.Read(n[:])
	name := id + "-" + hex.EncodeToString(n[:])
	b.mu.Lock()
	b.inflight[name] = true
	b.mu.Unlock()
	return name
}

// done releases names from flight once their commit is over, whatever
// its outcome.
func (b *blobStore) done(names ...string) {
	b.mu.Lock()
	for _, n := range names {
		delete(b.inflight, n)
	}
	b.mu.Unlock()
}

func (b *blobStore) path(name string) string { return filepath.Join(b.dir, name) }

// write stores enc (a record's compressed form) as blob name and syncs it
// and the directory, so that a commit may refer to it.
func (b *blobStore) write(name string, enc []byte) error {
	if err := b.mkdir(); err != nil {
		return err
	}
	f, err := os.OpenFile(b.path(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write a blob: %w", err)
	}
	_, err = f.Write(b.seal(name, enc))
	if err == nil {
		err = b.sync(f.Name(), f.Sync)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = b.sync(b.dir, func() error { return syncDirectory(b.dir) })
	}
	if err != nil {
		os.Remove(b.path(name))
		return fmt.Errorf("write blob %s: %w", name, err)
	}
	return nil
}

func (b *blobStore) sync(path string, sync func() error) error {
	if b.fault != nil {
		if err := b.fault(path); err != nil {
			return err
		}
	}
	return sync()
}

// mkdir creates the blobs directory once, and syncs the store directory
// so that its name is on disk.
func (b *blobStore) mkdir() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.made {
		return nil
	}
	if err := os.Mkdir(b.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create the blobs directory: %w", err)
	}
	if err := syncDirectory(filepath.Dir(b.dir)); err != nil {
		return fmt.Errorf("sync the store directory: %w", err)
	}
	b.made = true
	return nil
}

func (b *blobStore) seal(name string, enc []byte) []byte {
	out := append(bytes.Clone(blobMagic), blobPlain)
	if b.aead == nil {
		return append(out, enc...)
	}
	out[len(out)-1] = blobSealed
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	return b.aead.Seal(out, nonce, enc, []byte(name))
}

func (b *blobStore) open(name string, data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, blobMagic) || len(data) < len(blobMagic)+1 {
		return nil, errors.New("not a blob")
	}
	kind, data := data[len(blobMagic)], data[len(blobMagic)+1:]
	switch {
	case kind == blobPlain:
		return data, nil
	case kind != blobSealed:
		return nil, fmt.Errorf("unknown blob kind %d", kind)
	case b.aead == nil:
		return nil, errors.New("the blob is encrypted and no key is set")
	case len(data) < b.aead.NonceSize():
		return nil, errors.New("truncated blob")
	}
	n := b.aead.NonceSize()
	return b.aead.Open(nil, data[:n], data[n:], []byte(name))
}

// fill reads r's blob into r: its raw body, payload and headers.
func (b *blobStore) fill(r *notification.Record) error {
	data, err := os.ReadFile(b.path(r.Blob))
	if err != nil {
		return fmt.Errorf("read the blob of notification %s: %w", r.ID, err)
	}
	enc, err := b.open(r.Blob, data)
	if err != nil {
		return fmt.Errorf("read the blob of notification %s: %w", r.ID, err)
	}
	var full notification.Record
	if err := decodeRecord(enc, &full); err != nil {
		return fmt.Errorf("decode the blob of notification %s: %w", r.ID, err)
	}
	r.Raw, r.Payload, r.Headers = full.Raw, full.Payload, full.Headers
	return nil
}

// remove deletes blobs whose records are gone (their deletion synced). A
// deletion lost to a power cut is swept later.
func (b *blobStore) remove(names ...string) {
	for _, n := range names {
		os.Remove(b.path(n))
	}
}

// sweep deletes every blob that is not in flight and that no record
// refers to; refers(id, name) says whether record id refers to blob name.
// It returns how many it deleted.
func (b *blobStore) sweep(refers func(id, name string) (bool, error)) (int, error) {
	d, err := os.Open(b.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, err
	}
	swept := 0
	for _, name := range names {
		id, _, ok := strings.Cut(name, "-")
		b.mu.Lock()
		busy := b.inflight[name]
		b.mu.Unlock()
		if busy {
			continue
		}
		// Checked after the flight: a blob out of flight has had its
		// commit, whose record a read from now on sees.
		if ok {
			live, err := refers(id, name)
			if err != nil {
				return swept, err
			}
			if live {
				continue
			}
		}
		if err := os.Remove(b.path(name)); err == nil {
			swept++
		}
	}
	return swept, nil
}
